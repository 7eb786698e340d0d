/** Validators for URL search parameters: anything unexpected is dropped rather than trusted. */
import type { TaskState } from '../api/types';

const TASK_STATES: readonly TaskState[] = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'dead'];

export const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() ? value.trim() : undefined;

export function taskStates(value: unknown): TaskState[] | undefined {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [];
  const states = list.filter((item): item is TaskState => TASK_STATES.includes(item as TaskState));
  return states.length ? states : undefined;
}

/** A same-site path to return to after signing in (never another origin: no open redirect). */
export function safeRedirect(value: unknown): string | undefined {
  const path = str(value);
  if (!path || !path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return undefined;
  return path;
}
