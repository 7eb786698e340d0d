import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { USER_ID, USER_PERMISSIONS, makeMe, uid } from '../../test/fixtures';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

const record = (action: string) => ({
  id: uid(),
  created_at: '2026-01-15T10:00:00Z',
  action,
  actor_type: 'user',
  actor_id: USER_ID,
  target_type: 'agent',
  target_id: 'a1',
  ip: '203.0.113.7',
  user_agent: 'Firefox',
  request_id: 'req-1',
  details: { version: 2 },
});

it('filters by action through the API and expands a record’s details', async () => {
  const actions: (string | null)[] = [];
  server.use(
    http.get('*/v1/audit-events', ({ request }) => {
      const action = new URL(request.url).searchParams.get('action');
      actions.push(action);
      return HttpResponse.json({ items: action ? [record('auth.login')] : [record('agent.updated'), record('auth.login')], next_cursor: null });
    }),
  );
  const { user, router } = renderApp('/admin/audit');

  const table = await screen.findByRole('table', { name: 'Audit records' });
  expect(within(table).getByText('agent.updated')).toBeInTheDocument();
  await user.click(within(table).getByRole('button', { name: 'Show details of agent.updated' }));
  expect(await within(table).findByText(/203\.0\.113\.7/)).toBeInTheDocument();
  expect(within(table).getByLabelText('Details of agent.updated')).toHaveTextContent('"version": 2');

  await fill(user, screen.getByLabelText('Action'), 'auth.*');
  await user.click(screen.getByRole('button', { name: 'Filter' }));
  await waitFor(() => expect(within(screen.getByRole('table', { name: 'Audit records' })).queryByText('agent.updated')).not.toBeInTheDocument());
  expect(actions).toContain('auth.*');
  expect(router.state.location.search).toEqual({ action: 'auth.*' });
});

it('is closed to members without audit:read', async () => {
  server.use(http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: USER_PERMISSIONS }))));
  renderApp('/admin/audit');
  expect(await screen.findByText(/does not allow you to read the audit log/i)).toBeInTheDocument();
});
