/** Signing in as a person does: the sign-in form on the page that is open. */
import type { Page } from '@playwright/test';

export async function signIn(page: Page, who: { email: string; password: string }): Promise<void> {
  const form = page.getByRole('form', { name: 'Sign in' });
  await form.getByRole('textbox', { name: 'Email' }).fill(who.email);
  await form.getByRole('textbox', { name: 'Password', exact: true }).fill(who.password);
  await form.getByRole('button', { name: 'Sign in' }).click();
}
