/**
 * What one journey test hands to the next (ids of the agent and task it made), kept in the run's data directory.
 *
 * A file, not module variables: after a failing test Playwright replaces the worker process and goes on with the
 * next test, so an accessibility failure on one screen does not hide the rest of the journey.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DATA_DIR } from './env';

export interface JourneyState {
  agentId?: string;
  taskId?: string;
}

const FILE = path.join(DATA_DIR, 'e2e-journey.json');

export function recall(): JourneyState {
  try {
    return JSON.parse(readFileSync(FILE, 'utf8')) as JourneyState;
  } catch {
    return {};
  }
}

export function remember(update: JourneyState): void {
  writeFileSync(FILE, JSON.stringify({ ...recall(), ...update }));
}
