/**
 * End-to-end tests of the web UI in a real browser (Debian's Chromium), against real `agentic serve` processes
 * that this config starts on the embedded default: SQLite in a fresh temporary data directory, in-process
 * workers, the mock LLM, mail written to `<data dir>/outbox/`. The UI must be built first (`make e2e` does it).
 */
import { defineConfig } from '@playwright/test';
import path from 'node:path';
import { ADMIN, BASE_URL, CHROMIUM, DATA_DIR, REPO_DIR, SETUP_DATA_DIR, SETUP_URL, STORAGE_STATE, serverEnv } from './support/env';

const CI = Boolean(process.env.CI);

/**
 * `agentic serve` on the embedded default in `dataDir`, whatever the calling shell has configured, started the
 * way `make run` starts it: migrate, then serve (uvloop, in-process workers, the shipped `dev` environment; as
 * root in CI), so the suite runs what users run.
 */
function server(url: string, dataDir: string, admin: Record<string, string>) {
  const agentic = `"${path.join(REPO_DIR, '.venv/bin/agentic')}"`;
  return {
    command: `${agentic} db upgrade && exec ${agentic} serve --host 127.0.0.1 --port ${new URL(url).port} --no-migrate`,
    // Not the repository: a `.env` file there must not change the server under test.
    cwd: dataDir,
    url: `${url}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    gracefulShutdown: { signal: 'SIGTERM' as const, timeout: 10_000 },
    stdout: 'ignore' as const,
    stderr: 'pipe' as const,
    env: { ...serverEnv(url, dataDir), AGENTIC_ADMIN_EMAIL: '', AGENTIC_ADMIN_PASSWORD: '', ...admin },
  };
}

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  fullyParallel: false,
  workers: 1,
  retries: CI ? 1 : 0,
  forbidOnly: CI,
  reporter: 'list',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  globalSetup: './support/setup.ts',
  globalTeardown: './support/teardown.ts',

  use: {
    baseURL: BASE_URL,
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 },
    locale: 'en-GB',
    timezoneId: 'UTC',
    colorScheme: 'light',
    launchOptions: {
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
    trace: 'on-first-retry',
    video: 'off',
    screenshot: 'only-on-failure',
  },

  projects: [
    // Signs up, verifies the address from the outbox, signs in once; the others reuse the session.
    { name: 'setup', testMatch: /auth\.setup\.ts$/ },
    { name: 'journey', testMatch: /journey\.spec\.ts$/, dependencies: ['setup'], use: { storageState: STORAGE_STATE } },
    { name: 'screens', testMatch: /screens\.spec\.ts$/, dependencies: ['setup'], use: { storageState: STORAGE_STATE } },
    { name: 'operations', testMatch: /operations\.spec\.ts$/, dependencies: ['setup'], use: { storageState: STORAGE_STATE } },
    { name: 'security', testMatch: /security-headers\.spec\.ts$/, dependencies: ['setup'], use: { storageState: STORAGE_STATE } },
    { name: 'first-run', testMatch: /first-run\.spec\.ts$/, use: { baseURL: SETUP_URL } },
  ],

  // The journey's server (administrator created from the environment), and a second fresh one that is left
  // for the first-run setup test to set up through the browser.
  webServer: [server(BASE_URL, DATA_DIR, { AGENTIC_ADMIN_EMAIL: ADMIN.email, AGENTIC_ADMIN_PASSWORD: ADMIN.password }), server(SETUP_URL, SETUP_DATA_DIR, {})],
});
