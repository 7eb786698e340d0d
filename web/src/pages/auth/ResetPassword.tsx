import { Box, Button, TextField, Typography } from '@mui/material';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useState, type FormEvent } from 'react';
import { useConfirmPasswordReset, useRequestPasswordReset } from '../../api/queries/me';
import { FormAlert } from '../../components/FormAlert';
import { ButtonLink, RouterLink } from '../../components/links';
import { fieldId, useFormErrors, type Errors } from '../../components/useFormErrors';
import { AuthLayout } from './AuthLayout';
import { OutboxNote } from '../../components/OutboxNote';
import { PasswordField } from './PasswordField';
import { MIN_PASSWORD_LENGTH, isEmail, passwordProblem } from './validation';

/** `/reset-password`: ask for a link; `/reset-password?token=…` (from the mail): choose a new password. */
export function ResetPassword() {
  const { token } = useSearch({ from: '/reset-password' });
  const [changed, setChanged] = useState<string | null>(null);
  if (changed) {
    return (
      <AuthLayout title="Password changed">
        <Typography role="status" sx={{ mb: 3 }}>
          {changed}
        </Typography>
        <ButtonLink to="/login" search={{ redirect: undefined }} variant="contained">
          Sign in
        </ButtonLink>
      </AuthLayout>
    );
  }
  return token ? <ConfirmReset token={token} onChanged={setChanged} /> : <RequestReset />;
}

const footer = (
  <Typography>
    Remembered it? <RouterLink to="/login" search={{ redirect: undefined }}>Sign in</RouterLink>
  </Typography>
);

function RequestReset() {
  const request = useRequestPasswordReset();
  const form = useFormErrors();
  const [email, setEmail] = useState('');
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (form.invalid(isEmail(email) ? {} : { email: 'Enter a valid email address.' })) return;
    form.reset();
    request.mutate({ email: email.trim() }, { onError: (error) => form.fail(error) });
  };
  if (request.isSuccess) {
    return (
      <AuthLayout title="Check your inbox" footer={footer}>
        <Typography role="status">{request.data.message}</Typography>
        <OutboxNote />
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title="Reset your password" footer={footer}>
      <Box component="form" noValidate onSubmit={onSubmit} aria-label="Reset your password">
        <Typography color="text.secondary">We will mail a link to choose a new password.</Typography>
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
        <Button type="submit" variant="contained" fullWidth loading={request.isPending} sx={{ mt: 1 }}>
          Send the link
        </Button>
      </Box>
    </AuthLayout>
  );
}

const CONFIRM_ORDER = ['new_password', 'confirm_password'];

function ConfirmReset({ token, onChanged }: { token: string; onChanged: (message: string) => void }) {
  const confirm = useConfirmPasswordReset();
  const navigate = useNavigate();
  const form = useFormErrors();
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    const problem = passwordProblem(password);
    if (problem) errors.new_password = problem;
    if (repeat !== password) errors.confirm_password = 'The passwords do not match.';
    if (form.invalid(errors, CONFIRM_ORDER)) return;
    form.reset();
    confirm.mutate(
      { token, new_password: password },
      {
        onSuccess: (answer) => {
          onChanged(answer.message);
          // Keep the spent token out of the address bar and history.
          void navigate({ to: '/reset-password', search: { token: undefined }, replace: true });
        },
        // The password policy reports its problems under `password`.
        onError: (error) => form.fail(error, CONFIRM_ORDER, { password: 'new_password' }),
      },
    );
  };

  return (
    <AuthLayout title="Choose a new password" footer={footer}>
      <Box component="form" noValidate onSubmit={onSubmit} aria-label="Choose a new password">
        <FormAlert message={form.formError} />
        <PasswordField
          id={fieldId('new_password')}
          label="New password"
          autoComplete="new-password"
          required
          value={password}
          onChange={(event) => {
            setPassword(event.target.value);
            form.clearField('new_password');
          }}
          error={Boolean(form.errors.new_password)}
          helperText={form.errors.new_password ?? `At least ${MIN_PASSWORD_LENGTH} characters.`}
        />
        <PasswordField
          id={fieldId('confirm_password')}
          label="Confirm new password"
          autoComplete="new-password"
          required
          value={repeat}
          onChange={(event) => {
            setRepeat(event.target.value);
            form.clearField('confirm_password');
          }}
          error={Boolean(form.errors.confirm_password)}
          helperText={form.errors.confirm_password}
        />
        <Button type="submit" variant="contained" fullWidth loading={confirm.isPending} sx={{ mt: 1 }}>
          Change password
        </Button>
      </Box>
    </AuthLayout>
  );
}
