import { Alert, AlertTitle, Box, Button } from '@mui/material';
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
      <Box sx={{ maxWidth: 640, mx: 'auto', my: 6, px: 2 }}>
        <Alert severity="error" role="alert">
          <AlertTitle>Something went wrong</AlertTitle>
          The page hit an unexpected error: {this.state.error.message || 'unknown error'}.
        </Alert>
        <Button sx={{ mt: 2 }} variant="contained" onClick={() => window.location.reload()}>
          Reload the page
        </Button>
      </Box>
    );
  }
}
