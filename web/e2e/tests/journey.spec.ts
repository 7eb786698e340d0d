/**
 * One user's journey, in order: create an agent in the editor whose (mock) model calls a tool, run it and watch
 * the answer stream in, retry the task from step 2, approve a gated tool call in the task inspector, and create
 * then revoke an API key. Signed in by the setup project.
 */
import { expect, test, type Page } from '@playwright/test';
import { BASE_URL, USER } from '../support/env';
import { FINAL_ANSWER, METADATA_URL, SCRIPT_OPTIONS, fillAgentEditor, runAgent, saveNewAgent, shortId, taskState, uuidIn, type AgentSpec } from '../support/agents';
import { checkScreen, settle } from '../support/screens';
import { recall, remember } from '../support/state';

const RESEARCHER: AgentSpec = {
  name: 'Metadata prober',
  description: 'Calls http_request on the metadata address, then answers.',
  options: SCRIPT_OPTIONS,
  tools: [{ name: 'http_request', menuLabel: 'HTTP request' }],
};

/** Code the mock model hands to the `python` tool: its stdout must come back to the timeline. */
const PYTHON_CODE = "import sys\nprint('sum of squares:', sum(n * n for n in range(10)))\nprint('python', sys.version_info[0])";
const PYTHON_ANSWER = 'The sandbox printed the sum of squares.';

const CODER: AgentSpec = {
  name: 'Sandbox coder',
  description: 'Runs Python in the sandbox, then answers.',
  options: { script: [{ tool_calls: [{ name: 'python', arguments: { code: PYTHON_CODE } }] }, { text: PYTHON_ANSWER }] },
  tools: [{ name: 'python', menuLabel: 'Python sandbox' }],
  // One attempt: a broken sandbox shows at once (as the failed step and task), instead of after retries.
  policies: { 'Max attempts': '1' },
};

const GATED: AgentSpec = {
  name: 'Careful prober',
  description: 'The same, but every HTTP request waits for a person’s approval.',
  options: SCRIPT_OPTIONS,
  tools: [{ name: 'http_request', menuLabel: 'HTTP request', needsApproval: true }],
};


declare global {
  interface Window {
    /** Every distinct text the "answer so far" block showed, in order (recorded by `recordStreamedText`). */
    __e2eStreamed: string[];
  }
}

/** Record the streamed answer as the page renders it, every change, from the first token on. */
function recordStreamedText() {
  window.__e2eStreamed = [];
  new MutationObserver(() => {
    for (const block of document.querySelectorAll('[aria-label^="Answer so far"]')) {
      const text = block.textContent ?? '';
      if (window.__e2eStreamed.at(-1) !== text) window.__e2eStreamed.push(text);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
}

const steps = (page: Page) => page.getByRole('list', { name: 'Steps' }).getByRole('listitem');

/** Expand a step of the timeline (finished tool steps start collapsed) and return its list item. */
async function openStep(page: Page, position: number, kind: 'LLM call' | 'Tool') {
  const item = steps(page).filter({ has: page.getByRole('button', { name: new RegExp(`^${position}\\. ${kind}`) }) });
  const summary = item.getByRole('button', { name: new RegExp(`^${position}\\. ${kind}`) });
  if ((await summary.getAttribute('aria-expanded')) !== 'true') await summary.click();
  await expect(summary).toHaveAttribute('aria-expanded', 'true');
  await settle(page); // the opening transition: see settle()
  return item;
}

async function expectToolCallRefused(page: Page) {
  const call = await openStep(page, 1, 'LLM call');
  expect(JSON.parse((await call.getByLabel('Arguments for http_request').textContent()) ?? '')).toEqual({ url: METADATA_URL });
  const tool = await openStep(page, 2, 'Tool');
  expect(JSON.parse((await tool.getByLabel('Arguments of http_request').textContent()) ?? '')).toEqual({ url: METADATA_URL });
  // The call's result is an error (the model was told): the step reads as failed, with the error, not as a
  // green "succeeded".
  await expect(tool.getByRole('group', { name: 'Error of http_request' })).toContainText('ssrf_refused');
  await expect(tool.getByRole('button', { name: /^2\. Tool/ })).toContainText('failed');
}

test('a new agent starts on a provider this server can use; one without a key is warned about before saving', async ({ page }) => {
  // The server under test has no provider key (as `make run` starts): the offline mock, never OpenAI with an
  // empty model whose runs would die with provider_not_configured.
  await page.goto('/agents/new');
  const model = page.getByRole('form', { name: 'Create agent' }).getByRole('group', { name: 'Primary model' });
  await expect(model.getByRole('combobox', { name: 'Provider' })).toHaveText('Mock (offline, for tests)');
  await expect(model.getByRole('combobox', { name: 'Model' })).toHaveText('echo');
  await expect(page.getByRole('status', { name: /provider not configured/ })).toHaveCount(0);

  await model.getByRole('combobox', { name: 'Provider' }).click();
  await page.getByRole('option', { name: 'OpenAI (or compatible)' }).click();
  await expect(model.getByRole('textbox', { name: 'Model' })).toHaveValue('gpt-4o-mini');
  await expect(page.getByRole('status', { name: 'Primary model: provider not configured' })).toContainText('has an OpenAI key');
  await checkScreen(page, 'agent-editor-no-key', { only: 'desktop' });
});

test('create an agent in the editor: scripted mock model that calls a tool', async ({ page }) => {
  await fillAgentEditor(page, RESEARCHER);
  await checkScreen(page, 'agent-editor');
  remember({ agentId: await saveNewAgent(page, RESEARCHER) });

  const model = page.getByRole('region', { name: 'Model' });
  await expect(model).toContainText('mock / scripted');
  expect(JSON.parse((await model.getByLabel('Model options').textContent()) ?? '')).toEqual(SCRIPT_OPTIONS);
  await expect(page.getByRole('region', { name: 'Tools' })).toContainText('http_request');
  await checkScreen(page, 'agent-detail');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
  await expect(page.getByRole('table', { name: 'Agents' }).getByRole('link', { name: RESEARCHER.name })).toBeVisible();
});

test('run it: the answer streams in token by token, then the task succeeds', async ({ page }) => {
  const { agentId = '' } = recall();
  test.skip(!agentId, 'needs the agent of the previous test');
  await page.addInitScript(recordStreamedText);
  await page.goto(`/agents/${agentId}`);

  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: `Run ${RESEARCHER.name}` });
  await dialog.getByRole('textbox', { name: 'message' }).fill('Look at the metadata service, then report.');
  await checkScreen(page, 'run-dialog', { ready: dialog });
  await dialog.getByRole('button', { name: 'Start run' }).click();
  await expect(page).toHaveURL(/\/tasks\/[0-9a-f-]{36}$/);
  remember({ taskId: uuidIn(page.url()) });

  // While the model writes: the live indicator, a step that says it is writing (a "writing…" block until the
  // running step is checkpointed, then that step's "(still writing)" for screen readers), and a partial answer.
  await expect(page.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();
  await expect(page.getByText(/^LLM call .+ — writing…$/).or(page.getByText('(still writing)')).first()).toBeVisible();
  const partial = page.getByLabel(/^Answer so far/);
  await expect(partial).toHaveText(/\S/);
  // Once the running step is checkpointed, its block also tells screen readers the model is still writing.
  const early = ((await partial.textContent()) ?? '').replace(/ \(still writing\)$/, '');
  expect(FINAL_ANSWER.startsWith(early) && early.length < FINAL_ANSWER.length, `partial answer "${early}"`).toBe(true);

  // Then the final answer, the result, and the state.
  await expect(page.getByLabel('Model answer')).toHaveText(FINAL_ANSWER, { timeout: 30_000 });
  await expect(page.getByRole('region', { name: 'Result' })).toContainText(FINAL_ANSWER);
  await expect(taskState(page)).toHaveText('succeeded');
  await expect(page.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible();
  await expect(page.getByText(/— writing…$/)).toHaveCount(0);

  // The text arrived in several growing pieces, each the beginning of the final answer. Once the running step is
  // checkpointed, its block also says (to screen readers) that the model is "still writing".
  const recorded = await page.evaluate(() => window.__e2eStreamed);
  const seen = [...new Set(recorded.map((text) => text.replace(/ \(still writing\)$/, '')).filter((text) => text.length > 0))];
  expect(seen.length, `streamed pieces: ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(3);
  for (const [index, text] of seen.entries()) {
    expect(FINAL_ANSWER.startsWith(text), `piece ${index} "${text}" is a prefix of the answer`).toBe(true);
    if (index > 0) expect(text.length).toBeGreaterThan(seen[index - 1]!.length);
  }

  await expect(steps(page)).toHaveCount(3);
  await expectToolCallRefused(page);
  await checkScreen(page, 'task-inspector');
});

test('retry the task from step 2', async ({ page }) => {
  const { taskId = '' } = recall();
  test.skip(!taskId, 'needs the task of the previous test');
  await page.goto(`/tasks/${taskId}`);
  await expect(taskState(page)).toHaveText('succeeded');

  const tool = await openStep(page, 2, 'Tool');
  await tool.getByRole('button', { name: 'Retry from this step' }).click();
  const dialog = page.getByRole('dialog', { name: 'Retry task' });
  await expect(dialog.getByRole('combobox', { name: 'Start from' })).toHaveText('Step 2: tool http_request');
  await checkScreen(page, 'retry-dialog', { ready: dialog });
  await dialog.getByRole('button', { name: 'Retry', exact: true }).click();

  await expect(page).not.toHaveURL(new RegExp(taskId));
  await expect(page).toHaveURL(/\/tasks\/[0-9a-f-]{36}$/);
  const retryId = uuidIn(page.url());
  await expect(page.getByRole('heading', { level: 1, name: `Task ${shortId(retryId)}` })).toBeVisible();
  await expect(page.getByRole('link', { name: shortId(taskId), exact: true })).toBeVisible(); // "Retry of"
  await expect(page.getByLabel('Model answer')).toHaveText(FINAL_ANSWER, { timeout: 30_000 });
  await expect(taskState(page)).toHaveText('succeeded');
  await expect(steps(page)).toHaveCount(3);
  await expectToolCallRefused(page);
});

test('run the python tool from the console: its output is in the timeline and the task succeeds', async ({ page }) => {
  // The server is `agentic serve` as `make run` starts it (uvloop, in-process workers, a private data
  // directory; root in CI): the sandbox must work there, not only under a test's event loop.
  await fillAgentEditor(page, CODER);
  await saveNewAgent(page, CODER);
  await expect(page.getByRole('region', { name: 'Tools' })).toContainText('python');
  await runAgent(page, CODER.name, 'Add up the squares below ten.');

  // Whatever the outcome, the python step is on the timeline with its result or its error.
  const tool = steps(page).filter({ has: page.getByRole('button', { name: /^2\. Tool/ }) });
  await expect(tool).toHaveCount(1, { timeout: 60_000 });
  const opened = await openStep(page, 2, 'Tool');
  await expect(opened.getByRole('button', { name: /^2\. Tool/ })).toContainText('python');
  expect(JSON.parse((await opened.getByLabel('Arguments of python').textContent()) ?? '')).toEqual({ code: PYTHON_CODE });
  const error = opened.getByRole('group', { name: 'Error of python' });
  const result = opened.getByLabel('Result of python');
  await expect(result.or(error).first()).toBeVisible();
  // A sandbox that cannot run here shows as the failed step, with why: say that, not just "not found".
  if (await error.count()) throw new Error(`the python step failed: ${await error.textContent()}`);
  await expect(result).toContainText('sum of squares: 285');
  const output = JSON.parse((await result.textContent()) ?? '{}') as { stdout?: string; exit_code?: number };
  expect(output.stdout).toBe('sum of squares: 285\npython 3\n');
  expect(output.exit_code).toBe(0);
  await expect(opened.getByRole('button', { name: /^2\. Tool/ })).toContainText('succeeded');

  await expect(page.getByLabel('Model answer').last()).toHaveText(PYTHON_ANSWER, { timeout: 30_000 });
  await expect(taskState(page)).toHaveText('succeeded');
  await expect(steps(page)).toHaveCount(3);
  await checkScreen(page, 'task-python');
});

test('approve a gated tool call in the task inspector, seeing its exact arguments', async ({ page }) => {
  await fillAgentEditor(page, GATED);
  const gatedId = await saveNewAgent(page, GATED);
  await expect(page.getByRole('region', { name: 'Tools' })).toContainText('every call needs approval');
  expect(gatedId).not.toBe(recall().agentId);

  const gatedTask = await runAgent(page, GATED.name, 'Look, but ask first.');
  const card = page.getByRole('region', { name: 'Approval needed: http_request' });
  await expect(card).toBeVisible({ timeout: 20_000 });
  await expect(taskState(page)).toHaveText('waiting');
  // Exactly what will run if approved.
  expect(JSON.parse((await card.getByLabel('Arguments of http_request').textContent()) ?? '')).toEqual({ url: METADATA_URL });
  await checkScreen(page, 'task-approval');

  // The approvals inbox lists it too.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Approvals' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Approvals' })).toBeVisible();
  await expect(page.getByRole('link', { name: shortId(gatedTask), exact: true })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Approval needed: http_request' })).toBeVisible();
  await checkScreen(page, 'approvals');

  // Decide in the task inspector.
  await page.getByRole('link', { name: shortId(gatedTask), exact: true }).click();
  await expect(card).toBeVisible();
  await card.getByRole('textbox', { name: 'Comment (optional, audited)' }).fill('Fine: the SSRF guard refuses it anyway.');
  await card.getByRole('button', { name: 'Approve' }).click();

  await expect(page.getByLabel('Model answer')).toHaveText(FINAL_ANSWER, { timeout: 30_000 });
  await expect(taskState(page)).toHaveText('succeeded');
  await expect(card).toHaveCount(0);
  const decided = page.getByRole('region', { name: 'Approval: http_request' });
  await expect(decided).toContainText('approved');
  await expect(decided).toContainText('Fine: the SSRF guard refuses it anyway.');
  expect(JSON.parse((await decided.getByLabel('Arguments of http_request').textContent()) ?? '')).toEqual({ url: METADATA_URL });
  const tool = await openStep(page, 3, 'Tool');
  // The call's result is an error (the model was told): the step reads as failed, with the error, not as a
  // green "succeeded".
  await expect(tool.getByRole('group', { name: 'Error of http_request' })).toContainText('ssrf_refused');
  await expect(tool.getByRole('button', { name: /^3\. Tool/ })).toContainText('failed');
});

test('create an API key (shown once, with a copy button), then revoke it', async ({ page, context, playwright }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL });
  await page.goto('/settings/api-keys');
  await expect(page.getByRole('heading', { level: 1, name: 'API keys' })).toBeVisible();
  await checkScreen(page, 'api-keys-empty');

  await page.getByRole('button', { name: 'Create key' }).first().click();
  const create = page.getByRole('dialog', { name: 'Create an API key' });
  await create.getByRole('textbox', { name: 'Name' }).fill('e2e key');
  await create.getByRole('checkbox', { name: /^Read agents/ }).check();
  await expect(create.getByRole('checkbox', { name: /^Run tasks/ })).toBeChecked();
  await checkScreen(page, 'api-key-create', { ready: create });
  await create.getByRole('button', { name: 'Create key' }).click();

  // Shown this once: the secret, a copy button, and "Done" only after confirming it is stored.
  const shown = page.getByRole('dialog', { name: 'Copy your new API key' });
  await expect(shown).toBeVisible();
  const secretField = shown.getByRole('textbox', { name: 'Key “e2e key”' });
  const secret = await secretField.inputValue();
  expect(secret).toMatch(/^agk_[A-Za-z0-9]+_\S{20,}$/);
  await expect(shown.getByRole('note')).toContainText('only time it is shown');
  await checkScreen(page, 'api-key-secret', { ready: shown });
  const copy = shown.getByRole('button', { name: 'Copy' });
  await expect(copy).toBeVisible();
  await copy.click();
  await expect(shown.getByRole('status')).toHaveText('Copied to the clipboard.');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  const done = shown.getByRole('button', { name: 'Done' });
  await expect(done).toBeDisabled();
  await shown.getByRole('checkbox', { name: 'I have stored it' }).check();
  await done.click();
  await expect(shown).toBeHidden();

  // Listed by name and prefix only; the secret is nowhere on the page, not even after a reload.
  const table = page.getByRole('table', { name: 'API keys' });
  const row = table.getByRole('row').filter({ hasText: 'e2e key' });
  await expect(row).toContainText('active');
  await expect(row).toContainText(`${secret.split('_').slice(0, 2).join('_')}…`);
  await page.reload();
  await expect(row).toBeVisible();
  expect(await page.content()).not.toContain(secret);
  await checkScreen(page, 'api-keys');

  // The key works for a program…
  const api = await playwright.request.newContext({ baseURL: BASE_URL, extraHTTPHeaders: { authorization: `Bearer ${secret}` } });
  const me = await api.get('/v1/me');
  expect(me.status()).toBe(200);
  expect((await me.json()) as { email: string }).toMatchObject({ email: USER.email });

  // …until it is revoked.
  await row.getByRole('button', { name: 'Revoke e2e key' }).click();
  const confirm = page.getByRole('dialog', { name: 'Revoke “e2e key”?' });
  await confirm.getByRole('button', { name: 'Revoke key' }).click();
  await expect(confirm).toBeHidden();
  await expect(row).toHaveCount(0);
  await page.getByRole('switch', { name: 'Show revoked and expired keys (1)' }).check();
  await expect(row).toContainText('revoked');
  await expect(row.getByRole('button', { name: 'Revoke e2e key' })).toHaveCount(0);
  expect((await api.get('/v1/me')).status()).toBe(401);
  await api.dispose();
});
