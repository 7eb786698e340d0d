import { rmSync } from 'node:fs';
import { DATA_DIR, SETUP_DATA_DIR } from './env';

/** Remove the run's data directories (keep them for debugging with E2E_KEEP_DATA=1). */
export default function teardown(): void {
  if (process.env.E2E_KEEP_DATA) {
    console.log(`e2e: the servers' data directories are kept at ${DATA_DIR} and ${SETUP_DATA_DIR}`);
    return;
  }
  for (const dir of [DATA_DIR, SETUP_DATA_DIR]) rmSync(dir, { recursive: true, force: true });
}
