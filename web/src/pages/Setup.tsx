import { useRef, useState, type FormEvent } from 'react';
import { ApiError, fieldErrors, postSetup, type SetupResponse } from '../api';

type FieldName = 'organization_name' | 'email' | 'password' | 'confirm_password';
type Values = Record<FieldName, string>;
type Errors = Partial<Record<FieldName, string>>;

const MIN_PASSWORD_LENGTH = 12;

const FIELDS: { name: FieldName; label: string; type: string; autoComplete: string; hint?: string }[] = [
  { name: 'organization_name', label: 'Organisation name', type: 'text', autoComplete: 'organization' },
  { name: 'email', label: 'Admin email', type: 'email', autoComplete: 'email' },
  {
    name: 'password',
    label: 'Password',
    type: 'password',
    autoComplete: 'new-password',
    hint: `At least ${MIN_PASSWORD_LENGTH} characters.`,
  },
  { name: 'confirm_password', label: 'Confirm password', type: 'password', autoComplete: 'new-password' },
];

function validate(values: Values): Errors {
  const errors: Errors = {};
  if (!values.organization_name.trim()) errors.organization_name = 'Enter the name of your organisation.';
  if (!/^[^\s@]+@[^\s@]+$/.test(values.email.trim())) errors.email = 'Enter a valid email address.';
  if (values.password.length < MIN_PASSWORD_LENGTH) {
    errors.password = `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
  }
  if (values.confirm_password !== values.password) errors.confirm_password = 'The passwords do not match.';
  return errors;
}

export function Setup() {
  const token = new URLSearchParams(window.location.search).get('token')?.trim();
  return (
    <section className="card narrow" aria-labelledby="setup-title">
      <h1 id="setup-title">Set up Agentic</h1>
      {token ? (
        <SetupForm token={token} />
      ) : (
        <p>
          Setup needs the one-time setup link that the server prints in its log on first start. Open that link
          (it looks like <code>/setup?token=…</code>) to create the first administrator account.
        </p>
      )}
    </section>
  );
}

function SetupForm({ token }: { token: string }) {
  const [values, setValues] = useState<Values>({
    organization_name: '',
    email: '',
    password: '',
    confirm_password: '',
  });
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [created, setCreated] = useState<SetupResponse | null>(null);
  const formRef = useRef<HTMLFormElement>(null);

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const invalid = validate(values);
    setErrors(invalid);
    const first = FIELDS.find((field) => invalid[field.name]);
    if (first) {
      setFormError('Please correct the highlighted fields.');
      formRef.current?.querySelector<HTMLInputElement>(`#${first.name}`)?.focus();
      return;
    }

    setFormError(null);
    setSubmitting(true);
    try {
      const result = await postSetup({
        token,
        email: values.email.trim(),
        password: values.password,
        organization_name: values.organization_name.trim(),
      });
      // The token is single-use; keep it out of the address bar and history.
      window.history.replaceState(null, '', '/setup');
      setCreated(result);
    } catch (error) {
      setErrors(error instanceof ApiError ? fieldErrors(error.details) : {});
      setFormError(error instanceof Error ? error.message : 'Something went wrong. Please try again.');
    } finally {
      setSubmitting(false);
    }
  };

  if (created) {
    return (
      <div role="status">
        <p className="success">
          Admin account created. Sign-in arrives with the identity feature; you can already use the API.
        </p>
        <p>
          Administrator: <strong>{created.email}</strong>
        </p>
        <p>
          <a href="/">Back to the home page</a>
        </p>
      </div>
    );
  }

  return (
    <form ref={formRef} onSubmit={onSubmit} noValidate>
      <p>Create the first administrator account and organisation.</p>
      {formError && (
        <p className="error" role="alert">
          {formError}
        </p>
      )}
      {FIELDS.map(({ name, label, type, autoComplete, hint }) => {
        const error = errors[name];
        const describedBy = [hint && `${name}-hint`, error && `${name}-error`].filter(Boolean).join(' ');
        return (
          <div className="field" key={name}>
            <label htmlFor={name}>{label}</label>
            {hint && (
              <span className="hint" id={`${name}-hint`}>
                {hint}
              </span>
            )}
            <input
              id={name}
              name={name}
              type={type}
              autoComplete={autoComplete}
              required
              value={values[name]}
              onChange={(event) => setValues((prev) => ({ ...prev, [name]: event.target.value }))}
              aria-invalid={error ? true : undefined}
              aria-describedby={describedBy || undefined}
            />
            {error && (
              <span className="field-error" id={`${name}-error`}>
                {error}
              </span>
            )}
          </div>
        );
      })}
      <button type="submit" disabled={submitting}>
        {submitting ? 'Creating account…' : 'Create admin account'}
      </button>
    </form>
  );
}
