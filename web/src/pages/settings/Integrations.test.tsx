import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { USER_PERMISSIONS, makeMe, uid } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

const NOW = '2026-01-15T10:00:00Z';

it('stores a provider key (never shown again) and registers a database and an MCP server', async () => {
  const credentials: Record<string, unknown>[] = [];
  let credentialBody: unknown;
  let sqlBody: unknown;
  let mcpBody: unknown;
  server.use(
    http.get('*/v1/provider-credentials', () => HttpResponse.json(credentials)),
    http.post('*/v1/provider-credentials', async ({ request }) => {
      credentialBody = await request.json();
      credentials.push({ id: uid(), provider: 'openai', name: 'default', key_hint: 'x9Kq', base_url: null, created_by_id: null, created_at: NOW });
      return HttpResponse.json(credentials[0], { status: 201 });
    }),
    http.post('*/v1/sql-connections', async ({ request }) => {
      sqlBody = await request.json();
      return apiError(422, 'invalid_input', 'The host is not allowed.', [{ loc: ['body', 'dsn'], message: 'private network address' }]);
    }),
    http.post('*/v1/mcp-servers', async ({ request }) => {
      mcpBody = await request.json();
      return HttpResponse.json({}, { status: 201 });
    }),
  );
  const { user } = renderApp('/settings/integrations');

  const providers = await screen.findByRole('region', { name: 'LLM providers' });
  await fill(user, within(providers).getByLabelText(/^api key/i), 'sk-secret-x9Kq');
  await user.click(within(providers).getByRole('button', { name: 'Add key' }));
  expect(await within(providers).findByText('…x9Kq')).toBeInTheDocument();
  expect(credentialBody).toEqual({ provider: 'openai', name: 'default', api_key: 'sk-secret-x9Kq', base_url: null });
  expect(within(providers).getByLabelText(/^api key/i)).toHaveValue('');

  const sql = screen.getByRole('region', { name: 'SQL connections' });
  await fill(user, within(sql).getByLabelText(/^name/i), 'Analytics DB');
  await fill(user, within(sql).getByLabelText(/^connection string/i), 'postgresql://reader:pw@10.0.0.5/db');
  await user.click(within(sql).getByRole('button', { name: 'Add connection' }));
  expect(within(sql).getByLabelText(/^name/i)).toHaveAccessibleDescription(/lower-case letters/);
  await fill(user, within(sql).getByLabelText(/^name/i), 'analytics');
  await user.click(within(sql).getByRole('button', { name: 'Add connection' }));
  await waitFor(() => expect(within(sql).getByLabelText(/^connection string/i)).toHaveAccessibleDescription('private network address'));
  expect(sqlBody).toEqual({ name: 'analytics', dsn: 'postgresql://reader:pw@10.0.0.5/db', description: '' });

  const mcp = screen.getByRole('region', { name: 'MCP servers' });
  await fill(user, within(mcp).getByLabelText(/^name/i), 'github');
  await fill(user, within(mcp).getByLabelText(/^url/i), 'https://mcp.example.com/mcp');
  await fill(user, within(mcp).getByLabelText(/^headers/i), 'Authorization: Bearer abc');
  await user.click(within(mcp).getByRole('button', { name: 'Register server' }));
  await waitFor(() =>
    expect(mcpBody).toEqual({
      name: 'github',
      transport: 'http',
      description: '',
      enabled: true,
      url: 'https://mcp.example.com/mcp',
      headers: { Authorization: 'Bearer abc' },
    }),
  );
});

it('shows registered MCP servers read-only to a user, with their tools', async () => {
  server.use(
    http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: USER_PERMISSIONS }))),
    http.get('*/v1/mcp-servers', () =>
      HttpResponse.json([
        {
          id: uid(),
          name: 'github',
          description: '',
          transport: 'http',
          command: null,
          url: 'https://mcp.example.com/mcp',
          header_names: ['Authorization'],
          env_names: [],
          enabled: true,
          tools: [{ name: 'search_issues', description: 'Search', input_schema: {} }],
          discovered_at: NOW,
          last_error: null,
          created_by_id: null,
          created_at: NOW,
          updated_at: NOW,
        },
      ]),
    ),
  );
  renderApp('/settings/integrations');
  const serverCard = await screen.findByRole('region', { name: 'MCP server github' });
  expect(within(serverCard).getByText('search_issues')).toBeInTheDocument();
  expect(within(serverCard).queryByRole('button', { name: /refresh tools/i })).not.toBeInTheDocument();
  expect(screen.queryByRole('region', { name: 'LLM providers' })).not.toBeInTheDocument();
  expect(screen.queryByRole('form', { name: 'Register an MCP server' })).not.toBeInTheDocument();
});
