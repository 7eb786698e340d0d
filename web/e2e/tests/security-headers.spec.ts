/**
 * The console under its Content Security Policy (issue 15): the server sends the policy with every response,
 * and the main screens render and work without the browser refusing a single script, style, font, image or
 * connection. Violations are recorded in the page from its first script on (`securitypolicyviolation`).
 */
import { expect, test, type Page } from '@playwright/test';

declare global {
  interface Window {
    cspViolations: string[];
  }
}

test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.cspViolations.push(`${event.effectiveDirective} refused ${event.blockedURI || 'inline'} (${event.sourceFile}:${event.lineNumber})`);
    });
  });
});

async function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => window.cspViolations);
}

const SCREENS = [
  { nav: 'Agents', path: '/agents' },
  { nav: 'Tasks', path: '/tasks' },
  { nav: 'Approvals', path: '/approvals' },
  { nav: 'Dead letters', path: '/dead-letters' },
  { nav: 'System status', path: '/system' },
  { nav: 'Integrations', path: '/settings/integrations' },
  { nav: 'Members', path: '/admin/members' },
  { nav: 'Audit log', path: '/admin/audit' },
  { nav: 'Dashboard', path: '/' },
] as const;

test('the console is served with the policy and every main screen works under it', async ({ page }) => {
  const response = await page.goto('/');
  const headers = response?.headers() ?? {};
  expect(headers['content-security-policy']).toContain("script-src 'self'");
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(headers['x-content-type-options']).toBe('nosniff');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();

  for (const screen of SCREENS) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: screen.nav, exact: true }).click();
    await expect(page).toHaveURL(screen.path);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  }
  // A dialog (portals, transitions and their styles) and the agent editor.
  await page.goto('/settings/api-keys');
  await page.getByRole('button', { name: 'Create key' }).first().click();
  await expect(page.getByRole('dialog', { name: 'Create an API key' })).toBeVisible();
  await page.keyboard.press('Escape');
  await page.goto('/agents/new');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();

  expect(await violations(page)).toEqual([]);
});

test.describe('signed out', () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test('the sign-in page works under the policy', async ({ page }) => {
    await page.goto('/login');
    await expect(page.getByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible();
    await page.getByRole('button', { name: 'Sign in' }).click(); // client-side validation renders its errors
    await expect(page.getByRole('textbox', { name: 'Email' })).toHaveAccessibleDescription('Enter your email address.');
    expect(await violations(page)).toEqual([]);
  });
});
