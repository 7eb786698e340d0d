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

/** The second server, left without an account for the first-run setup test: port E2E_PORT + 1. */
export const SETUP_URL = `http://127.0.0.1:${PORT + 1}`;
export const SETUP_DATA_DIR = (process.env.AGENTIC_E2E_SETUP_DATA_DIR ??= mkdtempSync(path.join(tmpdir(), 'agentic-e2e-setup-')));

/** The environment of a server under test (and of `agentic` commands run against its data). */
export function serverEnv(url: string, dataDir: string): Record<string, string> {
  return {
    // The shipped default (what `make run` gets), set so a calling shell's AGENTIC_ENV=test cannot leak in:
    // nothing here needs `test`, and `test` would hide what differs in the environment users run.
    AGENTIC_ENV: 'dev',
    AGENTIC_DATA_DIR: dataDir,
    // The embedded default, whatever the calling shell has configured.
    AGENTIC_DATABASE_URL: '',
    AGENTIC_REDIS_URL: '',
    AGENTIC_SMTP_HOST: '',
    // The SSRF guard stays whole: the tests' tool call to 169.254.169.254 must be refused, not sent.
    AGENTIC_TOOLS_ALLOW_PRIVATE_NETWORKS: '[]',
    AGENTIC_SERVER_PUBLIC_URL: url,
    AGENTIC_WORKER_SHUTDOWN_GRACE_S: '2',
    // One retry of a failed model call (default 3), so the dead-letter test's scripted failures are few.
    AGENTIC_LLM_MAX_RETRIES: '1',
    AGENTIC_LOG_LEVEL: 'WARNING',
    AGENTIC_LOG_FORMAT: 'console',
  };
}

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
