import { Box, Button, Stack, Typography } from '@mui/material';
import { useQueryErrorResetBoundary } from '@tanstack/react-query';
import { useRouter, type ErrorComponentProps } from '@tanstack/react-router';
import { useEffect } from 'react';
import { ErrorState } from '../components/States';

/** What a page that failed to render (or load) shows instead; the shell and navigation stay usable. */
export function RouteError({ error, reset }: ErrorComponentProps) {
  const router = useRouter();
  const queryReset = useQueryErrorResetBoundary();
  useEffect(() => {
    queryReset.reset();
  }, [queryReset]);
  useEffect(() => {
    document.title = 'This page could not be shown · Agentic';
  }, []);
  return (
    <Box sx={{ py: 2 }}>
      {/* Like every screen, one h1 (focused after navigating here), then what went wrong. */}
      <Typography variant="h1" id="page-title" tabIndex={-1} sx={{ outline: 'none', mb: 1 }}>
        This page could not be shown
      </Typography>
      <ErrorState error={error} />
      <Stack direction="row" spacing={1}>
        <Button
          variant="contained"
          onClick={() => {
            reset();
            void router.invalidate();
          }}
        >
          Try again
        </Button>
        <Button onClick={() => void router.navigate({ to: '/' })}>Go to the dashboard</Button>
      </Stack>
    </Box>
  );
}
