/**
 * The operator's and the admin's side, in the same browser session as the journey's user (an admin of their
 * organisation): a task that runs out of attempts lands in the dead-letter queue and is requeued from it; an
 * agent's versions, schedules and webhooks; a member invited by mail accepts the invitation.
 */
import { expect, test } from '@playwright/test';
import { ADMIN, BASE_URL, USER } from '../support/env';
import { fillAgentEditor, runAgent, saveNewAgent, shortId, taskState, type AgentSpec } from '../support/agents';
import { signIn } from '../support/auth';
import { linkIn, waitForMail } from '../support/mail';
import { checkScreen } from '../support/screens';

/**
 * The mock model answers after its first two identical calls fail with a 503. The e2e server lets the gateway
 * retry a failed call once (AGENTIC_LLM_MAX_RETRIES=1, playwright.config.ts), and the agent allows one attempt:
 * the first run uses up both failures and goes to the dead-letter queue; the requeued run gets the answer.
 */
const FLAKY: AgentSpec = {
  name: 'Flaky summariser',
  description: 'Its model fails twice, then answers.',
  options: { script: [{ text: 'Recovered: here is the summary.' }], fail: { status: 503, times: 2 } },
  tools: [],
  policies: { 'Max attempts': '1' },
};

test('a task out of attempts goes to the dead-letter queue; requeued, it succeeds', async ({ page }) => {
  await fillAgentEditor(page, FLAKY);
  await saveNewAgent(page, FLAKY);
  const taskId = await runAgent(page, FLAKY.name, 'Summarise the week.');
  const state = taskState(page);
  await expect(state).toHaveText('dead', { timeout: 30_000 });
  await expect(page.getByRole('region', { name: 'Result' })).toContainText(/503/);
  await checkScreen(page, 'task-dead');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dead letters' }).click();
  const table = page.getByRole('table', { name: 'Dead tasks' });
  const row = table.getByRole('row').filter({ hasText: shortId(taskId) });
  await expect(row).toContainText(FLAKY.name);
  await checkScreen(page, 'dead-letters-item');
  await row.getByRole('button', { name: `Requeue task ${shortId(taskId)}` }).click();
  await expect(page.getByText(`Task ${shortId(taskId)} is queued again.`)).toBeVisible();
  await expect(row).toHaveCount(0);

  await page.goto(`/tasks/${taskId}`);
  await expect(state).toHaveText('succeeded', { timeout: 30_000 });
  await expect(page.getByRole('region', { name: 'Result' })).toContainText('Recovered: here is the summary.');
});

test('an agent’s versions (diff), schedules and webhooks', async ({ page }) => {
  const agent: AgentSpec = { name: 'Weekly reporter', description: 'First words.', options: { script: [{ text: 'Report.' }] }, tools: [] };
  await fillAgentEditor(page, agent);
  const agentId = await saveNewAgent(page, agent);

  // A second version: a new description.
  await page.getByRole('link', { name: 'Edit' }).click();
  const form = page.getByRole('form', { name: 'Save changes' });
  await form.getByRole('textbox', { name: 'Description', exact: true }).fill('Second words.');
  await form.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByText('Saved as version 2.')).toBeVisible(); // the editor stays open
  await page.getByRole('link', { name: `← ${agent.name}` }).click();
  await expect(page).toHaveURL(new RegExp(`/agents/${agentId}$`));
  await expect(page.getByText('version 2', { exact: true })).toBeVisible();

  await page.getByRole('tab', { name: 'Versions' }).click();
  const diff = page.getByRole('table', { name: 'Changes from version 1 to 2' });
  await expect(diff).toContainText('/description');
  await expect(diff).toContainText('Second words.');
  await checkScreen(page, 'agent-versions');

  await page.getByRole('tab', { name: 'Schedules' }).click();
  await page.getByRole('button', { name: 'New schedule' }).first().click();
  const dialog = page.getByRole('dialog', { name: /schedule/i });
  await dialog.getByRole('textbox', { name: /^Name/ }).fill('Monday report');
  await dialog.getByRole('textbox', { name: /^Cron expression/ }).fill('0 9 * * 1');
  await dialog.getByRole('textbox', { name: /^message/ }).fill('Report on last week.');
  // The next three runs, computed by the server for the expression as typed: Mondays, 09:00 UTC.
  const runs = dialog.getByRole('status').getByRole('listitem');
  await expect(runs).toHaveCount(3);
  for (const run of await runs.all()) await expect(run).toHaveText(/^Mon.*09:00/);
  await checkScreen(page, 'schedule-dialog', { ready: dialog });
  await dialog.getByRole('button', { name: 'Create schedule' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole('article', { name: 'Monday report' })).toContainText('0 9 * * 1');
  await checkScreen(page, 'agent-schedules');

  await page.getByRole('tab', { name: 'Webhooks' }).click();
  await expect(page.getByRole('form', { name: 'Add a webhook' })).toBeVisible();
  await checkScreen(page, 'agent-webhooks');
});

test('invite a member by mail; they sign in from the link and accept', async ({ page, browser }) => {
  await page.goto('/admin/members');
  const invitations = page.getByRole('region', { name: 'Invitations' });
  const invite = invitations.getByRole('form', { name: 'Invite someone' });
  await invite.getByRole('textbox', { name: 'Email' }).fill(ADMIN.email);
  await invite.getByRole('button', { name: 'Invite' }).click();
  await expect(invitations.getByText(`Invitation mailed to ${ADMIN.email}.`)).toBeVisible();
  await expect(invitations.getByRole('table', { name: 'Pending invitations' })).toContainText(ADMIN.email);
  await checkScreen(page, 'members-invited');

  const link = linkIn(await waitForMail(ADMIN.email, /invit/i), '/accept-invitation');
  expect(link.startsWith(`${BASE_URL}/accept-invitation?token=`)).toBe(true);

  // The invitee, in a browser of their own: not signed in, so sent to sign in and brought back.
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const invitee = await context.newPage();
  await invitee.goto(link);
  await expect(invitee.getByRole('heading', { level: 1, name: 'Accept invitation' })).toBeVisible();
  await checkScreen(invitee, 'accept-invitation-signed-out');
  await invitee.getByRole('link', { name: 'Sign in to accept' }).click();
  await signIn(invitee, ADMIN);
  await expect(invitee.getByRole('heading', { level: 1, name: 'Accept invitation' })).toBeVisible();
  await expect(invitee.getByText(`You are signed in as ${ADMIN.email}`)).toBeVisible();
  await checkScreen(invitee, 'accept-invitation');
  await invitee.getByRole('button', { name: 'Accept invitation' }).click();
  await expect(invitee.getByRole('heading', { level: 1, name: 'Welcome aboard' })).toBeVisible();
  await expect(invitee).toHaveURL(`${BASE_URL}/accept-invitation`); // the spent token left the address bar
  await context.close();

  // The organisation's admin sees the new member.
  await page.reload();
  await expect(page.getByRole('table', { name: 'Members' })).toContainText(ADMIN.email);
  await expect(page.getByRole('table', { name: 'Members' })).toContainText(USER.email);
});
