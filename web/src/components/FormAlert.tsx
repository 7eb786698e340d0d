import { Alert } from '@mui/material';

/** The form-level message (server error, or "fix the highlighted fields"), announced by screen readers. */
export function FormAlert({ message, severity = 'error' }: { message: string | null; severity?: 'error' | 'success' | 'info' }) {
  if (!message) return null;
  return (
    <Alert severity={severity} role={severity === 'error' ? 'alert' : 'status'} sx={{ my: 2 }}>
      {message}
    </Alert>
  );
}
