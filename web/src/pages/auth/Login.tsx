import { Alert, Box, Button, Stack, TextField, Typography } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useState, type FormEvent } from 'react';
import { ApiError } from '../../api/errors';
import { useLogin, useResendVerification } from '../../api/queries/me';
import { systemQueries } from '../../api/queries/system';
import { FormAlert } from '../../components/FormAlert';
import { RouterLink } from '../../components/links';
import { fieldId, useFormErrors, type Errors } from '../../components/useFormErrors';
import { AuthLayout } from './AuthLayout';
import { OutboxNote } from '../../components/OutboxNote';
import { PasswordField } from './PasswordField';
import { isEmail } from './validation';

const ORDER = ['email', 'password'];

export function Login() {
  const { redirect } = useSearch({ from: '/login' });
  const navigate = useNavigate();
  const login = useLogin();
  const resend = useResendVerification();
  const info = useQuery(systemQueries.info());
  const form = useFormErrors();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [unverified, setUnverified] = useState(false);

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    if (!isEmail(email)) errors.email = 'Enter your email address.';
    if (!password) errors.password = 'Enter your password.';
    if (form.invalid(errors, ORDER)) return;
    form.reset();
    setUnverified(false);
    resend.reset();
    login.mutate(
      { email: email.trim(), password },
      {
        onSuccess: () => void navigate({ to: redirect ?? '/', replace: true }),
        onError: (error) => {
          setUnverified(error instanceof ApiError && error.code === 'email_not_verified');
          form.fail(error, ORDER);
        },
      },
    );
  };

  return (
    <AuthLayout
      title="Sign in"
      footer={
        <Typography>
          New here?{' '}
          <RouterLink to="/signup">Create an account</RouterLink>
        </Typography>
      }
    >
      {info.data?.needs_setup && (
        <Alert severity="info" role="note" sx={{ mb: 2 }}>
          This installation has no administrator yet. Open the one-time setup link printed in the server log (
          <code>agentic setup-link</code> prints it again).
        </Alert>
      )}
      <Box component="form" noValidate onSubmit={onSubmit} aria-label="Sign in">
        <FormAlert message={form.formError} />
        {unverified && (
          <Stack direction="row" spacing={1} sx={{ alignItems: 'center', mb: 1, flexWrap: 'wrap' }}>
            <Button
              size="small"
              variant="outlined"
              loading={resend.isPending}
              onClick={() => resend.mutate({ email: email.trim() })}
            >
              Send a new verification link
            </Button>
            {resend.isSuccess && <Typography role="status">{resend.data.message}</Typography>}
            {resend.isError && <Typography role="alert" color="error">{resend.error.message}</Typography>}
          </Stack>
        )}
        {unverified && resend.isSuccess && <OutboxNote sx={{ mt: 0, mb: 1 }} />}
        <TextField
          id={fieldId('email')}
          label="Email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(event) => {
            setEmail(event.target.value);
            form.clearField('email');
          }}
          error={Boolean(form.errors.email)}
          helperText={form.errors.email}
        />
        <PasswordField
          id={fieldId('password')}
          label="Password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(event) => {
            setPassword(event.target.value);
            form.clearField('password');
          }}
          error={Boolean(form.errors.password)}
          helperText={form.errors.password}
        />
        <Box sx={{ textAlign: 'right', mb: 2 }}>
          <RouterLink to="/reset-password" search={{ token: undefined }}>
            Forgot your password?
          </RouterLink>
        </Box>
        <Button type="submit" variant="contained" fullWidth size="large" loading={login.isPending}>
          Sign in
        </Button>
      </Box>
    </AuthLayout>
  );
}
