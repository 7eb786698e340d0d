/**
 * The setup project: a new user signs up on the fresh installation, opens the verification link from the
 * mail outbox, and signs in. The session (cookies + local storage) is saved for the other projects.
 * Accessibility and screenshots of these screens are in screens.spec.ts: a failure here would stop every test.
 */
import { expect, test as setup } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { BASE_URL, STORAGE_STATE, USER } from '../support/env';
import { signIn } from '../support/auth';
import { linkIn, waitForMail } from '../support/mail';

setup('sign up, verify the address from the mail, sign in', async ({ page }) => {
  await setup.step('sign up', async () => {
    await page.goto('/signup');
    await expect(page.getByRole('heading', { level: 1, name: 'Create your account' })).toBeVisible();
    const form = page.getByRole('form', { name: 'Create your account' });
    await form.getByRole('textbox', { name: 'Email' }).fill(USER.email);
    await form.getByRole('textbox', { name: 'Your name (optional)' }).fill(USER.name);
    await form.getByRole('textbox', { name: 'Organisation name (optional)' }).fill(USER.organization);
    await form.getByRole('textbox', { name: 'Password', exact: true }).fill(USER.password);
    await form.getByRole('textbox', { name: 'Confirm password', exact: true }).fill(USER.password);
    await form.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Check your inbox' })).toBeVisible();
    await expect(page.getByRole('status')).toContainText(USER.email);
    // The server under test has no SMTP server: the page says where the mail went instead.
    await expect(page.getByRole('note', { name: 'Where the message went' })).toContainText('agentic mail list');
  });

  await setup.step('signing in before verifying is refused', async () => {
    await page.getByRole('link', { name: 'Go to sign in' }).click();
    const form = page.getByRole('form', { name: 'Sign in' });
    await signIn(page, USER);
    await expect(form.getByRole('alert')).toContainText(/verif/i);
    await expect(form.getByRole('button', { name: 'Send a new verification link' })).toBeVisible();
  });

  const link = await setup.step('the verification mail is in the outbox', async () => {
    const mail = await waitForMail(USER.email, /verify your email/i);
    expect(mail.subject).toBe('Verify your email address for Agentic');
    const url = linkIn(mail, '/verify-email');
    expect(url.startsWith(`${BASE_URL}/verify-email?token=`)).toBe(true);
    return url;
  });

  await setup.step('open the link: the address is verified', async () => {
    await page.goto(link);
    await expect(page.getByRole('heading', { level: 1, name: 'Email verified' })).toBeVisible();
    await expect(page.getByRole('status')).toContainText(/verified/i);
    // The spent token is taken out of the address bar (and the history).
    await expect(page).toHaveURL(`${BASE_URL}/verify-email`);
  });

  await setup.step('sign in', async () => {
    await page.getByRole('link', { name: 'Sign in' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible();
    await signIn(page, USER);
    await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
    await expect(page.getByRole('button', { name: `Account: ${USER.email}` })).toBeVisible();
  });

  mkdirSync(path.dirname(STORAGE_STATE), { recursive: true });
  await page.context().storageState({ path: STORAGE_STATE });
});
