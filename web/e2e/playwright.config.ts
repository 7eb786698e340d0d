/**
 * End-to-end tests of the web UI in a real browser (Debian's Chromium), against a real `agentic serve` that
 * this config starts on the embedded default: SQLite in a fresh temporary data directory, in-process workers,
 * the mock LLM, mail written to `<data dir>/outbox/`. The UI must be built first (`make e2e` does it).
 */
import { defineConfig } from '@playwright/test';
import path from 'node:path';
import { ADMIN, BASE_URL, CHROMIUM, DATA_DIR, PORT, REPO_DIR, STORAGE_STATE } from './support/env';

const CI = Boolean(process.env.CI);

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
  ],

  webServer: {
    command: `"${path.join(REPO_DIR, '.venv/bin/agentic')}" serve --host 127.0.0.1 --port ${PORT}`,
    // Not the repository: a `.env` file there must not change the server under test.
    cwd: DATA_DIR,
    url: `${BASE_URL}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    gracefulShutdown: { signal: 'SIGTERM', timeout: 10_000 },
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      AGENTIC_ENV: 'dev',
      AGENTIC_DATA_DIR: DATA_DIR,
      // The embedded default, whatever the calling shell has configured.
      AGENTIC_DATABASE_URL: '',
      AGENTIC_REDIS_URL: '',
      AGENTIC_SMTP_HOST: '',
      // The SSRF guard stays whole: the tests' tool call to 169.254.169.254 must be refused, not sent.
      AGENTIC_TOOLS_ALLOW_PRIVATE_NETWORKS: '[]',
      AGENTIC_SERVER_PUBLIC_URL: BASE_URL,
      // First-run setup done from the environment; the e2e user then signs up like anyone else.
      AGENTIC_ADMIN_EMAIL: ADMIN.email,
      AGENTIC_ADMIN_PASSWORD: ADMIN.password,
      AGENTIC_WORKER_SHUTDOWN_GRACE_S: '2',
      AGENTIC_LOG_LEVEL: 'WARNING',
      AGENTIC_LOG_FORMAT: 'console',
    },
  },
});
