import { rmSync } from 'node:fs';
import { DATA_DIR } from './env';

/** Remove the run's data directory (keep it for debugging with E2E_KEEP_DATA=1). */
export default function teardown(): void {
  if (process.env.E2E_KEEP_DATA) {
    console.log(`e2e: the server's data directory is kept at ${DATA_DIR}`);
    return;
  }
  rmSync(DATA_DIR, { recursive: true, force: true });
}
