import { Box, Paper, Typography } from '@mui/material';
import { useEffect, type ReactNode } from 'react';

/** The centred card public pages (sign in, links from mails) render in. */
export function AuthLayout({ title, children, footer }: { title: string; children: ReactNode; footer?: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Agentic`;
  }, [title]);
  return (
    <Box sx={{ minHeight: '100vh', display: 'flex', flexDirection: 'column', alignItems: 'center', px: 2, py: { xs: 3, sm: 8 } }}>
      <Box component="header">
        <Typography component="p" sx={{ fontWeight: 700, fontSize: '1.25rem', mb: 2 }}>
          Agentic
        </Typography>
      </Box>
      <Paper component="main" id="main" variant="outlined" sx={{ width: '100%', maxWidth: 460, p: { xs: 2.5, sm: 4 } }}>
        <Typography variant="h1" id="page-title" tabIndex={-1} gutterBottom sx={{ outline: 'none' }}>
          {title}
        </Typography>
        {children}
      </Paper>
      {footer && (
        <Box component="footer" sx={{ mt: 2, textAlign: 'center' }}>
          {footer}
        </Box>
      )}
    </Box>
  );
}
