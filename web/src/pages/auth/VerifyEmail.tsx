import { Box, Button, TextField, Typography } from '@mui/material';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useResendVerification, useVerifyEmail } from '../../api/queries/me';
import { FormAlert } from '../../components/FormAlert';
import { LoadingState } from '../../components/States';
import { ButtonLink } from '../../components/links';
import { fieldId, useFormErrors } from '../../components/useFormErrors';
import { AuthLayout } from './AuthLayout';
import { OutboxNote } from '../../components/OutboxNote';
import { isEmail } from './validation';

/** Opened from the verification mail (`/verify-email?token=…`): verifies at once; without a token, resends. */
export function VerifyEmail() {
  const { token } = useSearch({ from: '/verify-email' });
  const navigate = useNavigate();
  const verify = useVerifyEmail();
  const sent = useRef<string | null>(null);

  useEffect(() => {
    // The token is single-use: send it once, even when React runs the effect twice (StrictMode).
    if (!token || sent.current === token) return;
    sent.current = token;
    verify.mutate(token, {
      // Keep the spent token out of the address bar and history.
      onSuccess: () => void navigate({ to: '/verify-email', search: { token: undefined }, replace: true }),
    });
  }, [token, verify, navigate]);

  if (verify.isSuccess) {
    return (
      <AuthLayout title="Email verified">
        <Typography role="status" sx={{ mb: 3 }}>
          {verify.data.message}
        </Typography>
        <ButtonLink to="/login" search={{ redirect: undefined }} variant="contained">
          Sign in
        </ButtonLink>
      </AuthLayout>
    );
  }
  if (token && !verify.isError) {
    return (
      <AuthLayout title="Verifying your email">
        <LoadingState label="Checking the link…" />
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title={verify.isError ? 'This link does not work' : 'Verify your email'}>
      {verify.isError && <FormAlert message={`${verify.error.message} Ask for a new link below.`} />}
      <ResendForm />
    </AuthLayout>
  );
}

function ResendForm() {
  const resend = useResendVerification();
  const form = useFormErrors();
  const [email, setEmail] = useState('');
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (form.invalid(isEmail(email) ? {} : { email: 'Enter a valid email address.' })) return;
    form.reset();
    resend.mutate({ email: email.trim() }, { onError: (error) => form.fail(error) });
  };
  if (resend.isSuccess) {
    return (
      <>
        <Typography role="status">{resend.data.message}</Typography>
        <OutboxNote />
      </>
    );
  }
  return (
    <Box component="form" noValidate onSubmit={onSubmit} aria-label="Send a new verification link">
      <Typography color="text.secondary">Enter your address and we will mail you a new verification link.</Typography>
      <FormAlert message={form.formError} />
      <TextField
        id={fieldId('email')}
        label="Email"
        type="email"
        autoComplete="email"
        required
        value={email}
        onChange={(event) => {
          setEmail(event.target.value);
          form.clearField('email');
        }}
        error={Boolean(form.errors.email)}
        helperText={form.errors.email}
      />
      <Button type="submit" variant="contained" loading={resend.isPending} sx={{ mt: 1 }}>
        Send a new link
      </Button>
    </Box>
  );
}
