import { Box, Button, TextField, Typography } from '@mui/material';
import { useState, type FormEvent } from 'react';
import { useResendVerification, useSignup } from '../../api/queries/me';
import { FormAlert } from '../../components/FormAlert';
import { RouterLink } from '../../components/links';
import { fieldId, useFormErrors, type Errors } from '../../components/useFormErrors';
import { AuthLayout } from './AuthLayout';
import { OutboxNote } from '../../components/OutboxNote';
import { PasswordField } from './PasswordField';
import { MIN_PASSWORD_LENGTH, isEmail, passwordProblem } from './validation';

type Field = 'email' | 'display_name' | 'organization_name' | 'password' | 'confirm_password';
const ORDER: Field[] = ['email', 'display_name', 'organization_name', 'password', 'confirm_password'];

export function Signup() {
  const signup = useSignup();
  const resend = useResendVerification();
  const form = useFormErrors();
  const [values, setValues] = useState<Record<Field, string>>({
    email: '',
    display_name: '',
    organization_name: '',
    password: '',
    confirm_password: '',
  });

  const set = (field: Field) => (event: { target: { value: string } }) => {
    setValues((current) => ({ ...current, [field]: event.target.value }));
    form.clearField(field);
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    if (!isEmail(values.email)) errors.email = 'Enter a valid email address.';
    if (values.display_name.length > 200) errors.display_name = 'Use at most 200 characters.';
    if (values.organization_name.length > 200) errors.organization_name = 'Use at most 200 characters.';
    const problem = passwordProblem(values.password);
    if (problem) errors.password = problem;
    if (values.confirm_password !== values.password) errors.confirm_password = 'The passwords do not match.';
    if (form.invalid(errors, ORDER)) return;
    form.reset();
    signup.mutate(
      {
        email: values.email.trim(),
        password: values.password,
        display_name: values.display_name.trim() || null,
        organization_name: values.organization_name.trim() || null,
      },
      { onError: (error) => form.fail(error, ORDER) },
    );
  };

  if (signup.isSuccess) {
    return (
      <AuthLayout title="Check your inbox">
        <Typography role="status" sx={{ mb: 2 }}>
          {signup.data.message} The link in it verifies <strong>{values.email.trim()}</strong>; then you can sign in.
        </Typography>
        <OutboxNote sx={{ mt: 0, mb: 2 }} />
        <Button variant="outlined" loading={resend.isPending} onClick={() => resend.mutate({ email: values.email.trim() })}>
          Send the link again
        </Button>
        {resend.isSuccess && <Typography role="status" sx={{ mt: 1 }}>{resend.data.message}</Typography>}
        {resend.isError && <Typography role="alert" color="error" sx={{ mt: 1 }}>{resend.error.message}</Typography>}
        <Typography sx={{ mt: 3 }}>
          <RouterLink to="/login" search={{ redirect: undefined }}>Go to sign in</RouterLink>
        </Typography>
      </AuthLayout>
    );
  }

  const field = (name: Field) => ({
    id: fieldId(name),
    value: values[name],
    onChange: set(name),
    error: Boolean(form.errors[name]),
  });

  return (
    <AuthLayout
      title="Create your account"
      footer={
        <Typography>
          Already have an account? <RouterLink to="/login" search={{ redirect: undefined }}>Sign in</RouterLink>
        </Typography>
      }
    >
      <Box component="form" noValidate onSubmit={onSubmit} aria-label="Create your account">
        <FormAlert message={form.formError} />
        <TextField {...field('email')} label="Email" type="email" autoComplete="email" required helperText={form.errors.email} />
        <TextField
          {...field('display_name')}
          label="Your name (optional)"
          autoComplete="name"
          helperText={form.errors.display_name}
        />
        <TextField
          {...field('organization_name')}
          label="Organisation name (optional)"
          autoComplete="organization"
          helperText={form.errors.organization_name ?? 'Defaults to “<your name>’s organisation”.'}
        />
        <PasswordField
          {...field('password')}
          label="Password"
          autoComplete="new-password"
          required
          helperText={form.errors.password ?? `At least ${MIN_PASSWORD_LENGTH} characters; avoid common passwords.`}
        />
        <PasswordField
          {...field('confirm_password')}
          label="Confirm password"
          autoComplete="new-password"
          required
          helperText={form.errors.confirm_password}
        />
        <Button type="submit" variant="contained" fullWidth size="large" loading={signup.isPending} sx={{ mt: 1 }}>
          Create account
        </Button>
      </Box>
    </AuthLayout>
  );
}
