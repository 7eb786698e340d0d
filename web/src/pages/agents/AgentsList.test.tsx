import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { makeAgentSummary, makeMe, uid } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

it('lists agents, searches by name through the URL, and pages with “Load more”', async () => {
  const queries: (string | null)[] = [];
  server.use(
    http.get('*/v1/agents', ({ request }) => {
      const url = new URL(request.url);
      queries.push(url.searchParams.get('q'));
      if (url.searchParams.get('cursor') === 'page-2') {
        return HttpResponse.json({ items: [makeAgentSummary({ id: uid(), name: 'Older agent' })], next_cursor: null });
      }
      const q = url.searchParams.get('q');
      const items = [makeAgentSummary(), makeAgentSummary({ id: uid(), name: 'Billing helper', visibility: 'private', latest_version: 3 })];
      return HttpResponse.json({ items: q ? items.filter((a) => a.name.toLowerCase().includes(q)) : items, next_cursor: q ? null : 'page-2' });
    }),
  );
  const { user, router } = renderApp('/agents');

  const table = await screen.findByRole('table', { name: 'Agents' });
  expect(within(table).getByRole('link', { name: 'Support triage' })).toHaveAttribute('href', '/agents/00000000-0000-4000-8000-0000000000c1');
  expect(within(table).getByText('v3')).toBeInTheDocument();

  await user.click(screen.getByRole('button', { name: 'Load more' }));
  expect(await within(table).findByRole('link', { name: 'Older agent' })).toBeInTheDocument();

  await fill(user, screen.getByLabelText(/search by name/i), 'billing');
  await waitFor(() => expect(router.state.location.search).toEqual({ q: 'billing' }));
  await waitFor(() => expect(within(screen.getByRole('table', { name: 'Agents' })).queryByText('Support triage')).not.toBeInTheDocument());
  expect(queries).toContain('billing');
});

it('invites the first agent when there is none, and hides “New agent” from readers', async () => {
  const { unmount } = renderApp('/agents');
  expect(await screen.findByText('No agents yet')).toBeInTheDocument();
  expect(screen.getByRole('link', { name: /create your first agent/i })).toHaveAttribute('href', '/agents/new');
  unmount();

  server.use(http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: ['agents:read'] }))));
  renderApp('/agents');
  expect(await screen.findByText('No agents yet')).toBeInTheDocument();
  expect(screen.queryByRole('link', { name: /new agent|create your first/i })).not.toBeInTheDocument();
});

it('shows a server error with a way to try again, keeping the page', async () => {
  let fail = true;
  server.use(
    http.get('*/v1/agents', () =>
      fail ? apiError(503, 'unavailable', 'The database is not answering.') : HttpResponse.json({ items: [makeAgentSummary()], next_cursor: null }),
    ),
  );
  const { user } = renderApp('/agents');

  const alert = await screen.findByRole('alert');
  expect(alert).toHaveTextContent('The database is not answering.');
  expect(screen.getByRole('heading', { name: 'Agents', level: 1 })).toBeInTheDocument();
  fail = false;
  await user.click(within(alert).getByRole('button', { name: 'Try again' }));
  expect(await screen.findByRole('link', { name: 'Support triage' })).toBeInTheDocument();
});
