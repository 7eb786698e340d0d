import { rmSync } from 'node:fs';
import { SCREENSHOTS_DIR } from './env';

/**
 * Empty the screenshots folder, so that after a run it holds that run's screens only (a renamed or removed
 * screen must not linger as a stale picture in CI's artifact).
 */
export default function setup(): void {
  rmSync(SCREENSHOTS_DIR, { recursive: true, force: true });
}
