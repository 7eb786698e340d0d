/**
 * First-run setup on a fresh installation (the second server of playwright.config.ts, started without
 * AGENTIC_ADMIN_*): the sign-in page says setup is needed, the setup page explains where the link is, the
 * one-time link printed by `agentic setup-link` creates the first administrator, who then signs in. The link
 * stops working once used.
 */
import { expect, test } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_DIR, SETUP_DATA_DIR, SETUP_URL, serverEnv } from '../support/env';
import { signIn } from '../support/auth';
import { checkScreen } from '../support/screens';

const FOUNDER = { email: 'founder@example.com', password: 'first-run e2e passphrase', organization: 'Difference Engines' };

/** `agentic setup-link` against the second server's data, as an operator would run it on the machine. */
function setupLink() {
  return spawnSync(path.join(REPO_DIR, '.venv/bin/agentic'), ['setup-link'], {
    cwd: SETUP_DATA_DIR,
    env: { ...process.env, ...serverEnv(SETUP_URL, SETUP_DATA_DIR) },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('first-run setup: the link from `agentic setup-link` creates the administrator, who signs in', async ({ page }) => {
  await page.goto('/login');
  await expect(page.getByRole('note')).toContainText('no administrator yet');

  await page.goto('/setup');
  await expect(page.getByRole('heading', { level: 1, name: 'Set up Agentic' })).toBeVisible();
  await expect(page.getByRole('main')).toContainText('agentic setup-link');
  await checkScreen(page, 'setup-instructions');

  const printed = setupLink();
  expect(printed.status, printed.stderr).toBe(0);
  const link = printed.stdout.trim();
  expect(link).toMatch(new RegExp(`^${SETUP_URL}/setup\\?token=[\\w-]{20,}$`));

  // A wrong token is refused with a clear message and creates nothing.
  await page.goto('/setup?token=not-the-token');
  const form = page.getByRole('form', { name: 'Create the first administrator' });
  await form.getByRole('textbox', { name: 'Organisation name' }).fill(FOUNDER.organization);
  await form.getByRole('textbox', { name: 'Admin email' }).fill(FOUNDER.email);
  await form.getByRole('textbox', { name: 'Password', exact: true }).fill(FOUNDER.password);
  await form.getByRole('textbox', { name: 'Confirm password', exact: true }).fill(FOUNDER.password);
  await form.getByRole('button', { name: 'Create admin account' }).click();
  await expect(form.getByRole('alert')).toContainText(/token/i);

  await page.goto(link);
  await expect(form).toBeVisible();
  await form.getByRole('textbox', { name: 'Organisation name' }).fill(FOUNDER.organization);
  await form.getByRole('textbox', { name: 'Admin email' }).fill(FOUNDER.email);
  await form.getByRole('textbox', { name: 'Password', exact: true }).fill(FOUNDER.password);
  await form.getByRole('textbox', { name: 'Confirm password', exact: true }).fill(FOUNDER.password);
  await checkScreen(page, 'setup', { ready: form });
  await form.getByRole('button', { name: 'Create admin account' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Agentic is set up' })).toBeVisible();
  await expect(page.getByRole('status')).toContainText(FOUNDER.email);
  await expect(page).toHaveURL(`${SETUP_URL}/setup`); // the spent token left the address bar
  await checkScreen(page, 'setup-done');

  await page.getByRole('link', { name: 'Sign in' }).click();
  await expect(page.getByRole('form', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByRole('note')).toHaveCount(0); // no more "setup needed"
  await signIn(page, FOUNDER);
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByRole('banner')).toContainText(FOUNDER.organization);

  // Spent: the command says so, and the page too.
  const again = setupLink();
  expect(again.status).toBe(1);
  expect(again.stderr).toContain('Already set up');
  await page.goto(link);
  await expect(page.getByRole('heading', { level: 1, name: 'Already set up' })).toBeVisible();
});
