import { Alert, AlertTitle, Box, Button, Typography } from '@mui/material';
import { Component, type ErrorInfo, type ReactNode } from 'react';

interface State {
  error: Error | null;
}

/** The last line of defence: an error outside any route still leaves a message and a way out. */
export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error('Unhandled UI error', error, info.componentStack);
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <Box component="main" sx={{ maxWidth: 640, mx: 'auto', my: 6, px: 2 }}>
        <Typography variant="h1" id="page-title" tabIndex={-1} gutterBottom sx={{ outline: 'none' }}>
          Something went wrong
        </Typography>
        <Alert severity="error" role="alert">
          <AlertTitle>The page hit an unexpected error</AlertTitle>
          {this.state.error.message || 'Unknown error'}.
        </Alert>
        <Button sx={{ mt: 2 }} variant="contained" onClick={() => window.location.reload()}>
          Reload the page
        </Button>
      </Box>
    );
  }
}
