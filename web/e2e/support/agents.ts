/** Agents as a user makes them: through the agent editor, with the offline mock LLM. */
import { expect, type Page } from '@playwright/test';

export const METADATA_URL = 'http://169.254.169.254/x';

/** The final answer: long enough (and slow enough) to watch it arrive in several pieces. */
export const FINAL_ANSWER =
  'Done after the tool: the metadata address was refused by the SSRF guard, so nothing was fetched, and this answer streamed in word by word.';

/**
 * The mock LLM's `scripted` model (src/agentic/llm/providers/mock.py): turn 1 calls `http_request` on a
 * link-local address (the SSRF guard refuses it: no network needed), turn 2 streams the final answer at
 * `tokens_per_second` words per second, after `latency_ms` (time for the page to connect to the event stream).
 */
export const SCRIPT_OPTIONS = {
  script: [{ tool_calls: [{ name: 'http_request', arguments: { url: METADATA_URL } }] }, { text: FINAL_ANSWER }],
  tokens_per_second: 10,
  latency_ms: 300,
};

export interface ToolSpec {
  name: string;
  /** The entry of the editor's "Add tool" menu. */
  menuLabel: string;
  needsApproval?: boolean;
}

export interface AgentSpec {
  name: string;
  description: string;
  options: Record<string, unknown>;
  tools: ToolSpec[];
  /** Run policies by their field label, e.g. `{ 'Max attempts': '1' }`. */
  policies?: Record<string, string>;
}

export const uuidIn = (url: string) => {
  const id = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[/?#]|$)/.exec(url)?.[1];
  if (!id) throw new Error(`no id in ${url}`);
  return id;
};

/** The short form of a task id the UI shows (its last 8 characters). */
export const shortId = (id: string) => id.slice(-8);

/** The task inspector's state chip (a status region, so a change is announced). */
export const taskState = (page: Page) => page.getByRole('status', { name: 'Task state' });

/** Open the editor from the agents list and fill it in (without saving). */
export async function fillAgentEditor(page: Page, spec: AgentSpec): Promise<void> {
  await page.goto('/agents');
  await page.getByRole('link', { name: 'New agent' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'New agent' })).toBeVisible();
  const form = page.getByRole('form', { name: 'Create agent' });

  await form.getByRole('textbox', { name: 'Name', exact: true }).fill(spec.name);
  await form.getByRole('textbox', { name: 'Description', exact: true }).fill(spec.description);

  const model = form.getByRole('group', { name: 'Primary model' });
  await model.getByRole('combobox', { name: 'Provider' }).click();
  await page.getByRole('option', { name: 'Mock (offline, for tests)' }).click();
  await model.getByRole('combobox', { name: 'Model' }).click();
  await page.getByRole('option', { name: 'scripted', exact: true }).click();
  await expect(model.getByRole('combobox', { name: 'Model' })).toHaveText('scripted');
  await model.getByRole('textbox', { name: 'Other options (JSON)' }).fill(JSON.stringify(spec.options, null, 2));

  for (const tool of spec.tools) {
    await form.getByRole('button', { name: 'Add tool' }).click();
    await page.getByRole('menuitem', { name: new RegExp(tool.menuLabel) }).click();
    const entry = form.getByRole('group', { name: `Tool ${tool.name}` });
    await expect(entry.getByRole('textbox', { name: 'Tool', exact: true })).toHaveValue(tool.name);
    if (tool.needsApproval) {
      await entry.getByRole('switch', { name: 'Every call waits for a person’s approval' }).check();
    }
  }
  for (const [label, value] of Object.entries(spec.policies ?? {})) {
    await form.getByRole('textbox', { name: label, exact: true }).fill(value);
  }
}

/** Save the filled editor; the agent's page opens. Returns the agent's id. */
export async function saveNewAgent(page: Page, spec: AgentSpec): Promise<string> {
  await page.getByRole('form', { name: 'Create agent' }).getByRole('button', { name: 'Create agent' }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { level: 1, name: spec.name })).toBeVisible();
  return uuidIn(page.url());
}

/** Open the run form on the agent's page, fill the message and start; the task's page opens. Returns its id. */
export async function runAgent(page: Page, agentName: string, message: string): Promise<string> {
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: `Run ${agentName}` });
  await dialog.getByRole('textbox', { name: 'message' }).fill(message);
  await dialog.getByRole('button', { name: 'Start run' }).click();
  await expect(page).toHaveURL(/\/tasks\/[0-9a-f-]{36}$/);
  return uuidIn(page.url());
}
