import { Box, Typography } from '@mui/material';
import { useEffect } from 'react';
import { ButtonLink } from '../components/links';

export function NotFound() {
  useEffect(() => {
    document.title = 'Page not found · Agentic';
  }, []);
  return (
    <Box sx={{ maxWidth: 560, mx: 'auto', my: 6, px: 2 }}>
      <Typography variant="h1" id="page-title" tabIndex={-1} gutterBottom>
        Page not found
      </Typography>
      <Typography color="text.secondary" sx={{ mb: 2 }}>
        There is nothing at this address. It may have moved, or the link is mistyped.
      </Typography>
      <ButtonLink to="/" variant="contained">
        Go to the dashboard
      </ButtonLink>
    </Box>
  );
}
