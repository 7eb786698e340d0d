/**
 * The main screens not already covered by the journey, each scanned with axe and photographed at desktop and
 * phone width: the signed-out pages (with a second person signing up to reach "check your inbox" and "email
 * verified"), then the signed-in ones, reached through the navigation as a user would. Signed in by the setup
 * project (the user is the admin of the organisation they signed up with, so admin and operator screens are theirs).
 */
import { expect, test } from '@playwright/test';
import { linkIn, waitForMail } from '../support/mail';
import { USER } from '../support/env';
import { checkScreen } from '../support/screens';

test.describe('signed out', () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test('sign in, sign up, check your inbox, email verified', async ({ page }) => {
    const email = 'grace@example.com';
    await page.goto('/');
    await expect(page).toHaveURL(/\/login\?redirect=/); // the app sends signed-out visitors to sign in
    await expect(page.getByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible();
    await checkScreen(page, 'login');

    await page.getByRole('link', { name: 'Create an account' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Create your account' })).toBeVisible();
    await checkScreen(page, 'signup');
    const form = page.getByRole('form', { name: 'Create your account' });
    await form.getByRole('button', { name: 'Create account' }).click();
    // Errors are tied to their fields and the first invalid field gets focus.
    await expect(form.getByRole('textbox', { name: 'Email' })).toBeFocused();
    await expect(form.getByRole('textbox', { name: 'Email' })).toHaveAccessibleDescription(/valid email/);
    await checkScreen(page, 'signup-errors');
    await form.getByRole('textbox', { name: 'Email' }).fill(email);
    await form.getByRole('textbox', { name: 'Password', exact: true }).fill('grace hopper e2e passphrase');
    await form.getByRole('textbox', { name: 'Confirm password', exact: true }).fill('grace hopper e2e passphrase');
    await form.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Check your inbox' })).toBeVisible();
    await checkScreen(page, 'signup-sent');

    await page.goto(linkIn(await waitForMail(email, /verify your email/i), '/verify-email'));
    await expect(page.getByRole('heading', { level: 1, name: 'Email verified' })).toBeVisible();
    await checkScreen(page, 'email-verified');
  });

  test('a spent or broken verification link; password reset', async ({ page }) => {
    await page.goto('/verify-email?token=not-a-valid-token');
    await expect(page.getByRole('heading', { level: 1, name: 'This link does not work' })).toBeVisible();
    await expect(page.getByRole('alert')).toContainText(/invalid|expired/i);
    await checkScreen(page, 'verify-email-invalid');

    await page.goto('/reset-password');
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await checkScreen(page, 'reset-password');
  });
});

const SCREENS = [
  { name: 'dashboard', nav: 'Dashboard', heading: 'Dashboard', path: '/' },
  { name: 'agents', nav: 'Agents', heading: 'Agents', path: '/agents' },
  { name: 'tasks', nav: 'Tasks', heading: 'Tasks', path: '/tasks' },
  { name: 'approvals-all', nav: 'Approvals', heading: 'Approvals', path: '/approvals' },
  { name: 'dead-letters', nav: 'Dead letters', heading: 'Dead letters', path: '/dead-letters' },
  { name: 'system', nav: 'System status', heading: 'System status', path: '/system' },
  { name: 'integrations', nav: 'Integrations', heading: 'Integrations', path: '/settings/integrations' },
  { name: 'members', nav: 'Members', heading: 'Members', path: '/admin/members' },
  { name: 'audit-log', nav: 'Audit log', heading: 'Audit log', path: '/admin/audit' },
] as const;

for (const screen of SCREENS) {
  test(`${screen.name}: reachable from the navigation, accessible, photographed`, async ({ page }) => {
    // Start elsewhere so the screen is reached by its navigation link.
    await page.goto(screen.path === '/system' ? '/' : '/system');
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: screen.nav, exact: true }).click();
    await expect(page).toHaveURL(screen.path);
    // Focus moves to the new page's heading, so screen readers announce it.
    await expect(page.getByRole('heading', { level: 1, name: screen.heading })).toBeFocused();
    if (screen.name === 'approvals-all') await page.getByRole('tab', { name: 'All' }).click();
    await checkScreen(page, screen.name);
  });
}

test('phone: the navigation is a drawer behind a menu button', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeHidden();
  await page.getByRole('button', { name: 'Open navigation' }).click();
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav).toBeVisible();
  await checkScreen(page, 'navigation-drawer', { ready: nav, only: 'phone' });
  await nav.getByRole('link', { name: 'Tasks', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Tasks' })).toBeVisible();
  await expect(nav).toBeHidden();
});

test('keyboard only: skip link, then a dialog that keeps focus inside and gives it back', async ({ page }) => {
  await page.goto('/settings/api-keys');
  // A fresh load leaves focus at the top of the document (only navigating moves it to the new heading).
  await expect(page.getByRole('heading', { level: 1, name: 'API keys' })).toBeVisible();

  // The first Tab reaches the skip link, shown while focused; Enter moves to the content.
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  await page.keyboard.press('Enter');
  await expect(page.locator('#main')).toBeFocused();

  // Tab along to the first "Create key" button and open the dialog with Enter.
  const opener = page.getByRole('button', { name: 'Create key' }).first();
  for (let presses = 0; presses < 40 && !(await opener.evaluate((element) => element === document.activeElement)); presses += 1) {
    await page.keyboard.press('Tab');
  }
  await expect(opener).toBeFocused();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Create an API key' });
  const focusInside = () => dialog.evaluate((element) => element.contains(document.activeElement));
  // Focus moves into the dialog (onto it: screen readers announce its name), the next Tab reaches the first field…
  await expect.poll(focusInside).toBe(true);
  await page.keyboard.press('Tab');
  await expect(dialog.getByRole('textbox', { name: 'Name' })).toBeFocused();
  // …and it stays in the dialog however far one tabs.
  for (let presses = 0; presses < 30; presses += 1) await page.keyboard.press('Tab');
  expect(await focusInside()).toBe(true);
  // …and Escape closes it and returns focus to the button that opened it.
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(opener).toBeFocused();
});

test('the account menu: opened by keyboard, accessible, closed with Escape', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  const button = page.getByRole('button', { name: `Account: ${USER.email}` });
  await button.focus();
  await page.keyboard.press('Enter');
  const menu = page.getByRole('menu');
  await expect(menu.getByRole('menuitem', { name: 'Sign out', exact: true })).toBeVisible();
  await checkScreen(page, 'account-menu', { ready: menu });
  await page.keyboard.press('Escape');
  await expect(menu).toBeHidden();
  await expect(button).toBeFocused();
});
