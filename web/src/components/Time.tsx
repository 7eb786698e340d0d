import { Tooltip } from '@mui/material';
import { formatDateTime, formatRelative } from './format';

/** A relative time ("3 minutes ago") with the exact time in a tooltip and the `datetime` attribute. */
export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <>—</>;
  return (
    <Tooltip title={formatDateTime(value)}>
      <time dateTime={value}>{formatRelative(value)}</time>
    </Tooltip>
  );
}
