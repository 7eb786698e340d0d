/**
 * Where the run's server lives, and the one data directory it uses.
 *
 * Playwright evaluates the config in the runner and again in every worker; the data directory is created once,
 * in the runner, and handed to the workers (and to the server) through the environment, so all of them read
 * the same SQLite database and mail outbox.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(E2E_DIR, '../..');

export const PORT = Number(process.env.E2E_PORT ?? 8765);
export const BASE_URL = `http://127.0.0.1:${PORT}`;

/** A fresh directory per run (set AGENTIC_E2E_DATA_DIR to choose it; it must be empty). */
export const DATA_DIR = (process.env.AGENTIC_E2E_DATA_DIR ??= mkdtempSync(path.join(tmpdir(), 'agentic-e2e-')));

/** The Debian package's browser: Playwright's own browser downloads are never used. */
export const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';

export const SCREENSHOTS_DIR = path.join(E2E_DIR, 'screenshots');
export const STORAGE_STATE = path.join(E2E_DIR, '.auth', 'user.json');

/** The installation's administrator, created from the environment so the server needs no first-run setup. */
export const ADMIN = { email: 'admin@example.com', password: 'e2e admin passphrase' };

/** The person whose journey the tests follow: signs up on the fresh installation (an admin of their own organisation). */
export const USER = {
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  organization: 'Analytical Engines',
  password: 'correct horse battery e2e',
};
