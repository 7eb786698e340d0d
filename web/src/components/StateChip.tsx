import { Chip, type ChipProps } from '@mui/material';
import type { TaskState } from '../api/types';

const COLORS: Record<string, ChipProps['color']> = {
  queued: 'default',
  running: 'info',
  waiting: 'warning',
  succeeded: 'success',
  failed: 'error',
  cancelled: 'default',
  dead: 'error',
  pending: 'warning',
  approved: 'success',
  denied: 'error',
  expired: 'default',
};

/** A task, step or approval state; the text carries the meaning, the colour only repeats it. */
export function StateChip({ state, size = 'small' }: { state: TaskState | string; size?: ChipProps['size'] }) {
  return <Chip label={state} color={COLORS[state] ?? 'default'} size={size} variant={state === 'dead' ? 'filled' : 'outlined'} />;
}
