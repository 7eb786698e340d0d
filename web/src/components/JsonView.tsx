import { Box } from '@mui/material';

/** Pretty-printed JSON in a scrollable, keyboard-focusable block. */
export function JsonView({ value, label, maxHeight = 360 }: { value: unknown; label: string; maxHeight?: number }) {
  const text = value === undefined ? '' : JSON.stringify(value, null, 2);
  return (
    <Box
      component="pre"
      tabIndex={0}
      aria-label={label}
      sx={{
        m: 0,
        p: 1.5,
        maxHeight,
        overflow: 'auto',
        fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
        fontSize: '0.8125rem',
        bgcolor: 'action.hover',
        borderRadius: 1,
        whiteSpace: 'pre-wrap',
        overflowWrap: 'anywhere',
      }}
    >
      {text}
    </Box>
  );
}
