import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import type { AgentCreate, SqlConnectionOut } from '../../../api/types';
import { AGENT_ID, USER_ID, makeAgent, makeTools } from '../../../test/fixtures';
import { apiError } from '../../../test/handlers';
import { fill, renderApp } from '../../../test/render';
import { server } from '../../../test/server';

const NOW = '2026-01-15T10:00:00Z';
const connection = (name: string): SqlConnectionOut => ({
  id: `00000000-0000-4000-8000-00000000${name.length.toString().padStart(4, '0')}`,
  name,
  kind: 'postgresql',
  dsn: `postgresql://reader:***@db/${name}`,
  description: '',
  created_by_id: USER_ID,
  created_at: NOW,
  updated_at: NOW,
});

/** The editor of a saved agent (valid as it is, so only the tools decide whether it saves), and what it saves. */
async function openEditor() {
  const saved: AgentCreate[] = [];
  server.use(
    http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent())),
    http.patch(`*/v1/agents/${AGENT_ID}`, async ({ request }) => {
      saved.push((await request.json()) as AgentCreate);
      return HttpResponse.json(makeAgent({ latest_version: 2 }));
    }),
    http.get(`*/v1/agents/${AGENT_ID}/versions`, () => HttpResponse.json({ items: [], next_cursor: null })),
  );
  const app = renderApp(`/agents/${AGENT_ID}/edit`);
  await screen.findByRole('button', { name: 'Save changes' });
  return { ...app, saved };
}

describe('the tools picker', () => {
  it('lists the server’s built-in tools with their descriptions, and says why one cannot be picked', async () => {
    const { user } = renderApp('/agents/new');
    await user.click(await screen.findByRole('button', { name: 'Add tool' }));

    const http = await screen.findByRole('menuitem', { name: /http request/i });
    expect(http).toHaveAccessibleName('HTTP request http_request');
    expect(http).toHaveAccessibleDescription('Make an HTTP request to a public URL.');
    const search = screen.getByRole('menuitem', { name: /web search/i });
    expect(search).toHaveAttribute('aria-disabled', 'true');
    expect(search).toHaveAccessibleDescription(/Unavailable on this server: No web search provider is configured/);
    await user.click(search);
    expect(screen.queryByRole('group', { name: 'Tool web_search' })).not.toBeInTheDocument();

    await user.click(screen.getByRole('menuitem', { name: /python sandbox/i }));
    const python = screen.getByRole('group', { name: 'Tool python' });
    expect(within(python).getByRole('textbox', { name: /^tool/i })).toHaveAccessibleDescription(
      'Run Python 3 code in an isolated sandbox without network access.',
    );
    expect(within(python).getByText('This tool has no settings.')).toBeInTheDocument();
    expect(within(python).queryByRole('textbox', { name: /configuration/i })).not.toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Add tool' }));
    expect(await screen.findByRole('menuitem', { name: /python sandbox/i })).toHaveAccessibleDescription(/Already added\.$/);
  });

  it('edits a list setting one entry per line and saves it as the schema types it', async () => {
    const { user, saved } = await openEditor();
    await user.click(screen.getByRole('button', { name: 'Add tool' }));
    await user.click(await screen.findByRole('menuitem', { name: /http request/i }));
    const tool = screen.getByRole('group', { name: 'Tool http_request' });
    const domains = within(tool).getByRole('textbox', { name: 'Allowed domains' });
    expect(domains).toHaveAccessibleDescription(/Only these hosts .* One per line\./);

    await fill(user, domains, 'api.example.com\n');
    expect(domains).toHaveValue('api.example.com\n'); // the new line stays while typing
    await fill(user, domains, 'api.example.com\n *.example.org \n');
    await user.click(screen.getByRole('button', { name: 'Save changes' }));

    await waitFor(() => expect(saved).toHaveLength(1));
    expect(saved[0]!.tools).toEqual([
      { name: 'http_request', config: { allowed_domains: ['api.example.com', '*.example.org'] }, needs_approval: false, approval_rules: [], min_role: null },
    ]);
  });

  it('offers the organisation’s SQL connections and requires one, as the schema says', async () => {
    server.use(http.get('*/v1/sql-connections', () => HttpResponse.json([connection('analytics'), connection('billing')])));
    const { user, saved } = await openEditor();
    await user.click(screen.getByRole('button', { name: 'Add tool' }));
    await user.click(await screen.findByRole('menuitem', { name: /sql query/i }));
    const tool = screen.getByRole('group', { name: 'Tool sql_query' });
    const choices = within(tool).getByRole('group', { name: /sql connections/i });
    expect(within(choices).getAllByRole('checkbox').map((box) => box.closest('label')?.textContent)).toEqual(['analytics', 'billing']);

    await user.click(screen.getByRole('button', { name: 'Save changes' }));
    expect(saved).toHaveLength(0);
    expect(choices).toHaveAccessibleDescription('Choose at least one connection.');
    const summary = screen.getByRole('alert');
    await user.click(within(summary).getByRole('link', { name: 'Tool 1 configuration connections' }));
    expect(choices).toHaveFocus();

    await user.click(within(choices).getByRole('checkbox', { name: 'billing' }));
    await user.click(screen.getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(saved[0]!.tools![0]).toMatchObject({ name: 'sql_query', config: { connections: ['billing'] } });
  });

  it('checks numbers against the schema, warns about a tool the server cannot run, and switches to JSON and back', async () => {
    let patched: AgentCreate | undefined;
    server.use(
      http.get(`*/v1/agents/${AGENT_ID}`, () =>
        HttpResponse.json(makeAgent({ tools: [{ name: 'web_search', config: { max_results: 5 }, needs_approval: false, approval_rules: [], min_role: null }] })),
      ),
      http.patch(`*/v1/agents/${AGENT_ID}`, async ({ request }) => {
        patched = (await request.json()) as AgentCreate;
        return HttpResponse.json(makeAgent({ latest_version: 2 }));
      }),
      http.get(`*/v1/agents/${AGENT_ID}/versions`, () => HttpResponse.json({ items: [], next_cursor: null })),
    );
    const { user } = renderApp(`/agents/${AGENT_ID}/edit`);
    const tool = await screen.findByRole('group', { name: 'Tool web_search' });
    expect(await within(tool).findByRole('note')).toHaveTextContent('This server cannot run Web search now: No web search provider is configured');
    const max = await within(tool).findByRole('textbox', { name: 'Maximum results' });
    expect(max).toHaveValue('5');
    expect(max).toHaveAccessibleDescription('1 to 20. Empty: the default.');

    await fill(user, max, '50');
    await user.click(screen.getByRole('button', { name: 'Save changes' }));
    expect(max).toHaveAccessibleDescription('Must be at most 20.');
    expect(patched).toBeUndefined();
    await fill(user, max, '8');

    await user.click(within(tool).getByRole('switch', { name: 'Edit configuration as JSON' }));
    const json = within(tool).getByRole('textbox', { name: 'Configuration (JSON)' });
    expect(JSON.parse((json as HTMLTextAreaElement).value)).toEqual({ max_results: 8 });
    await fill(user, json, '{"max_results": 12}');
    await user.click(within(tool).getByRole('switch', { name: 'Edit configuration as JSON' }));
    expect(within(tool).getByRole('textbox', { name: 'Maximum results' })).toHaveValue('12');

    await user.click(screen.getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(patched).toBeDefined());
    expect(patched!.tools![0]).toMatchObject({ name: 'web_search', config: { max_results: 12 } });
  });

  it('keeps a config the fields cannot show in the JSON editor, and says why it cannot be saved', async () => {
    server.use(
      http.get(`*/v1/agents/${AGENT_ID}`, () =>
        HttpResponse.json(
          makeAgent({
            tools: [
              { name: 'web_fetch', config: { allowed_domains: ['a.com'], proxy: 'x' }, needs_approval: false, approval_rules: [], min_role: null },
              { name: 'mcp:github', config: { tools: ['search_issues'] }, needs_approval: false, approval_rules: [], min_role: null },
            ],
          }),
        ),
      ),
    );
    const { user } = renderApp(`/agents/${AGENT_ID}/edit`);
    const fetchTool = await screen.findByRole('group', { name: 'Tool web_fetch' });
    const json = await within(fetchTool).findByRole('textbox', { name: 'Configuration (JSON)' });
    expect(json).toHaveAccessibleDescription('The configuration has settings this tool does not know (proxy); fix them here.');
    expect(within(fetchTool).queryByRole('switch', { name: 'Edit configuration as JSON' })).not.toBeInTheDocument();
    const mcp = screen.getByRole('group', { name: 'Tool mcp:github' });
    expect(within(mcp).getByRole('textbox', { name: 'Configuration (JSON)' })).toHaveValue(JSON.stringify({ tools: ['search_issues'] }, null, 2));

    await user.click(screen.getByRole('button', { name: 'Save changes' }));
    expect(json).toHaveAccessibleDescription('Not a setting of this tool: proxy (it has allowed_domains).');
    await fill(user, json, '{"allowed_domains": ["a.com"]}');
    // The editor stays while typing; once the config fits the schema, the fields are a switch away.
    expect(json).toBeInTheDocument();
    const asJson = within(fetchTool).getByRole('switch', { name: 'Edit configuration as JSON' });
    expect(asJson).toBeChecked();
    await user.click(asJson);
    expect(within(fetchTool).getByRole('textbox', { name: 'Allowed domains' })).toHaveValue('a.com');
  });

  it('falls back to the JSON editor when the server’s tool list cannot be loaded', async () => {
    let failing = true;
    server.use(http.get('*/v1/tools', () => (failing ? apiError(500, 'internal', 'Boom.') : HttpResponse.json(makeTools()))));
    const { user } = renderApp('/agents/new');
    await user.click(await screen.findByRole('button', { name: 'Add tool' }));
    const retry = await screen.findByRole('menuitem', { name: /the built-in tools could not be loaded/i });
    await user.click(screen.getByRole('menuitem', { name: /other mcp server/i }));
    const tool = screen.getByRole('group', { name: 'Tool mcp:' });
    await fill(user, within(tool).getByRole('textbox', { name: /^tool/i }), 'http_request');
    const named = screen.getByRole('group', { name: 'Tool http_request' });
    expect(within(named).getByRole('textbox', { name: 'Configuration (JSON)' })).toBeInTheDocument();

    failing = false;
    await user.click(screen.getByRole('button', { name: 'Add tool' }));
    await user.click(await screen.findByRole('menuitem', { name: /the built-in tools could not be loaded/i }));
    expect(retry).not.toBeInTheDocument();
    expect(await within(named).findByRole('textbox', { name: 'Allowed domains' })).toBeInTheDocument();
  });
});
