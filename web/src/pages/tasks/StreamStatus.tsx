import { Button, Chip, Stack } from '@mui/material';
import type { StreamStatus as Status } from './useTaskStream';

const LABELS: Record<Status, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  ended: 'Finished',
  failed: 'Live updates unavailable',
};

/** Whether the page is following the task live; announced politely when it changes. */
export function StreamStatus({ status, retryInMs, onReconnect }: { status: Status; retryInMs: number | null; onReconnect: () => void }) {
  const color = status === 'live' ? 'success' : status === 'failed' ? 'error' : status === 'reconnecting' ? 'warning' : 'default';
  return (
    <Stack direction="row" spacing={1} sx={{ alignItems: 'center' }}>
      <span role="status" aria-live="polite">
        <Chip size="small" color={color} variant={status === 'live' ? 'filled' : 'outlined'} label={LABELS[status]} />
        {status === 'reconnecting' && retryInMs !== null && (
          <span className="visually-hidden"> Retrying in {Math.round(retryInMs / 1000)} seconds.</span>
        )}
      </span>
      {(status === 'reconnecting' || status === 'failed') && (
        <Button size="small" onClick={onReconnect}>
          Reconnect now
        </Button>
      )}
    </Stack>
  );
}
