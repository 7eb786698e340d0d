/** Loading, empty and error states: every screen shows one of these instead of a blank area. */
import { Alert, AlertTitle, Box, Button, CircularProgress, Paper, Stack, Typography } from '@mui/material';
import type { ReactNode } from 'react';
import { ApiError, errorMessage } from '../api/errors';

export function LoadingState({ label = 'Loading…' }: { label?: string }) {
  return (
    <Stack role="status" direction="row" spacing={2} sx={{ alignItems: 'center', py: 4, justifyContent: 'center' }}>
      <CircularProgress size={24} aria-hidden />
      <Typography color="text.secondary">{label}</Typography>
    </Stack>
  );
}

export function EmptyState({ title, description, action }: { title: string; description?: ReactNode; action?: ReactNode }) {
  return (
    <Paper variant="outlined" sx={{ p: { xs: 3, sm: 5 }, textAlign: 'center' }}>
      <Typography variant="h2" component="p" gutterBottom>
        {title}
      </Typography>
      {description && (
        <Typography color="text.secondary" sx={{ mb: action ? 2 : 0 }}>
          {description}
        </Typography>
      )}
      {action}
    </Paper>
  );
}

function titleFor(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return 'Cannot reach the server';
    if (error.status === 403) return 'You do not have access';
    if (error.status === 404) return 'Not found';
    if (error.status >= 500) return 'The server had a problem';
  }
  return 'Something went wrong';
}

export function ErrorState({ error, onRetry, title }: { error: unknown; onRetry?: () => void; title?: string }) {
  const retryable = !(error instanceof ApiError) || error.status === 0 || error.status >= 500 || error.status === 429;
  return (
    <Alert
      severity="error"
      role="alert"
      action={
        onRetry && retryable ? (
          <Button color="inherit" size="small" onClick={onRetry}>
            Try again
          </Button>
        ) : undefined
      }
      sx={{ my: 2 }}
    >
      <AlertTitle>{title ?? titleFor(error)}</AlertTitle>
      {errorMessage(error)}
    </Alert>
  );
}

/** Shown where a permission is missing: the page exists, the caller may not use it. */
export function NoAccess({ what }: { what: string }) {
  return (
    <Box sx={{ my: 2 }}>
      <Alert severity="info" role="note">
        <AlertTitle>You do not have access</AlertTitle>
        Your role in this organisation does not allow you to {what}. Ask an administrator if you need it.
      </Alert>
    </Box>
  );
}
