import { Box, Stack, Typography } from '@mui/material';
import { useEffect, type ReactNode } from 'react';

interface PageHeaderProps {
  title: string;
  description?: ReactNode;
  actions?: ReactNode;
  /** Above the title (e.g. a back link). */
  before?: ReactNode;
}

/** The page's one `h1` (focused by the shell after navigation) and the document title. */
export function PageHeader({ title, description, actions, before }: PageHeaderProps) {
  useEffect(() => {
    document.title = `${title} · Agentic`;
  }, [title]);
  return (
    <Box component="header" sx={{ mb: 3 }}>
      {before}
      <Stack
        direction={{ xs: 'column', sm: 'row' }}
        spacing={2}
        sx={{ justifyContent: 'space-between', alignItems: { xs: 'stretch', sm: 'center' } }}
      >
        <Box sx={{ minWidth: 0 }}>
          <Typography variant="h1" id="page-title" tabIndex={-1} sx={{ outline: 'none', overflowWrap: 'anywhere' }}>
            {title}
          </Typography>
          {description && (
            <Typography color="text.secondary" sx={{ mt: 0.5 }}>
              {description}
            </Typography>
          )}
        </Box>
        {actions && (
          <Stack direction="row" spacing={1} sx={{ flexShrink: 0, flexWrap: 'wrap', gap: 1 }}>
            {actions}
          </Stack>
        )}
      </Stack>
    </Box>
  );
}
