import { Box, Button, TextField, Typography } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useState, type FormEvent } from 'react';
import { useSetup } from '../../api/queries/me';
import { systemQueries } from '../../api/queries/system';
import type { SetupResult } from '../../api/types';
import { FormAlert } from '../../components/FormAlert';
import { ButtonLink } from '../../components/links';
import { fieldId, useFormErrors, type Errors } from '../../components/useFormErrors';
import { AuthLayout } from './AuthLayout';
import { PasswordField } from './PasswordField';
import { MIN_PASSWORD_LENGTH, isEmail, passwordProblem } from './validation';

type Field = 'organization_name' | 'email' | 'password' | 'confirm_password';
const ORDER: Field[] = ['organization_name', 'email', 'password', 'confirm_password'];

/** First-run setup from the one-time link the server prints on first start (`/setup?token=…`). */
export function Setup() {
  const { token } = useSearch({ from: '/setup' });
  const status = useQuery(systemQueries.setup());
  const [created, setCreated] = useState<SetupResult | null>(null);

  if (created) {
    return (
      <AuthLayout title="Agentic is set up">
        <Typography role="status" sx={{ mb: 1 }}>
          Admin account created for <strong>{created.email}</strong>.
        </Typography>
        <Typography sx={{ mb: 3 }}>Sign in with it to create agents and invite your team.</Typography>
        <ButtonLink to="/login" search={{ redirect: undefined }} variant="contained">
          Sign in
        </ButtonLink>
      </AuthLayout>
    );
  }
  if (status.data && !status.data.needs_setup) {
    return (
      <AuthLayout title="Already set up">
        <Typography sx={{ mb: 3 }}>This installation already has an administrator.</Typography>
        <ButtonLink to="/login" search={{ redirect: undefined }} variant="contained">
          Sign in
        </ButtonLink>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title="Set up Agentic">
      {token ? (
        <SetupForm token={token} onCreated={setCreated} />
      ) : (
        <Typography>
          Setup needs the one-time setup link that the server prints in its log on first start (or run{' '}
          <code>agentic setup-link</code> on the server to print it again). Open that link (it looks like{' '}
          <code>/setup?token=…</code>) to create the first administrator account.
        </Typography>
      )}
    </AuthLayout>
  );
}

function SetupForm({ token, onCreated }: { token: string; onCreated: (result: SetupResult) => void }) {
  const setup = useSetup();
  const navigate = useNavigate();
  const form = useFormErrors();
  const [values, setValues] = useState<Record<Field, string>>({
    organization_name: '',
    email: '',
    password: '',
    confirm_password: '',
  });

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    if (!values.organization_name.trim()) errors.organization_name = 'Enter the name of your organisation.';
    if (!isEmail(values.email)) errors.email = 'Enter a valid email address.';
    const problem = passwordProblem(values.password);
    if (problem) errors.password = problem;
    if (values.confirm_password !== values.password) errors.confirm_password = 'The passwords do not match.';
    if (form.invalid(errors, ORDER)) return;
    form.reset();
    setup.mutate(
      {
        token,
        email: values.email.trim(),
        password: values.password,
        organization_name: values.organization_name.trim(),
      },
      {
        onSuccess: (result) => {
          onCreated(result);
          // The token is single-use; keep it out of the address bar and history.
          void navigate({ to: '/setup', search: { token: undefined }, replace: true });
        },
        onError: (error) => form.fail(error, ORDER),
      },
    );
  };

  const field = (name: Field) => ({
    id: fieldId(name),
    name,
    required: true,
    value: values[name],
    onChange: (event: { target: { value: string } }) => {
      setValues((current) => ({ ...current, [name]: event.target.value }));
      form.clearField(name);
    },
    error: Boolean(form.errors[name]),
  });

  return (
    <Box component="form" noValidate onSubmit={onSubmit} aria-label="Create the first administrator">
      <Typography color="text.secondary">Create the first administrator account and organisation.</Typography>
      <FormAlert message={form.formError} />
      <TextField {...field('organization_name')} label="Organisation name" autoComplete="organization" helperText={form.errors.organization_name} />
      <TextField {...field('email')} label="Admin email" type="email" autoComplete="email" helperText={form.errors.email} />
      <PasswordField
        {...field('password')}
        label="Password"
        autoComplete="new-password"
        helperText={form.errors.password ?? `At least ${MIN_PASSWORD_LENGTH} characters.`}
      />
      <PasswordField {...field('confirm_password')} label="Confirm password" autoComplete="new-password" helperText={form.errors.confirm_password} />
      <Button type="submit" variant="contained" fullWidth size="large" loading={setup.isPending} sx={{ mt: 1 }}>
        Create admin account
      </Button>
    </Box>
  );
}
