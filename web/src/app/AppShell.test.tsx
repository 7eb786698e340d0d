import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { AGENT_ID, ORG_ID, USER_PERMISSIONS, makeAgent, makeMe } from '../test/fixtures';
import { apiError } from '../test/handlers';
import { renderApp } from '../test/render';
import { server } from '../test/server';

describe('app shell', () => {
  it('shows the navigation a role allows, marking the current page', async () => {
    server.use(http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: USER_PERMISSIONS }))));
    renderApp('/agents');
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    expect(within(nav).getByRole('link', { name: 'Agents' })).toHaveAttribute('aria-current', 'page');
    expect(within(nav).getByRole('link', { name: 'API keys' })).toBeInTheDocument();
    expect(within(nav).queryByRole('link', { name: 'Dead letters' })).not.toBeInTheDocument();
    expect(within(nav).queryByRole('link', { name: 'Audit log' })).not.toBeInTheDocument();
  });

  it('switches organisation: later requests carry X-Org-Id and nothing cached from the old one is shown', async () => {
    const orgs = [
      { id: ORG_ID, name: 'Acme', slug: 'acme', role: 'admin' },
      { id: 'org-2', name: 'Globex', slug: 'globex', role: 'user' },
    ];
    const seen: (string | null)[] = [];
    server.use(
      http.get('*/v1/me', ({ request }) => {
        const org = request.headers.get('x-org-id');
        seen.push(org);
        const current = orgs.find((o) => o.id === org) ?? orgs[0]!;
        return HttpResponse.json(makeMe({ organization: current, organizations: orgs }));
      }),
    );
    const { user } = renderApp('/');
    await user.click(await screen.findByRole('combobox', { name: /organisation/i }));
    await user.click(await screen.findByRole('option', { name: 'Globex (user)' }));

    await waitFor(() => expect(screen.getByRole('combobox', { name: /organisation/i })).toHaveTextContent('Globex'));
    expect(seen.at(-1)).toBe('org-2');
    expect(window.localStorage.getItem('agentic.org')).toBe('org-2');
  });

  it('signs out and lands on the sign-in page', async () => {
    let loggedOut: unknown;
    server.use(
      http.post('*/v1/auth/logout', async ({ request }) => {
        loggedOut = await request.json();
        return HttpResponse.json({ sessions_ended: 1 });
      }),
    );
    const { user, router } = renderApp('/');
    await user.click(await screen.findByRole('button', { name: /account: ada@example.com/i }));
    server.use(http.get('*/v1/me', () => apiError(401, 'unauthenticated', 'Sign in.')));
    await user.click(await screen.findByRole('menuitem', { name: 'Sign out' }));

    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe('/login');
    expect(loggedOut).toEqual({ everywhere: false });
  });

  it('goes to sign in (and back afterwards) when the session ends mid-use', async () => {
    server.use(http.get('*/v1/agents', () => apiError(401, 'unauthenticated', 'The session has ended; sign in again.')));
    const { router } = renderApp('/agents');
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(router.state.location.search).toEqual({ redirect: '/agents' });
  });

  it('follows a sign-out in another tab', async () => {
    const { router } = renderApp('/');
    await screen.findByRole('heading', { name: 'Dashboard' });
    server.use(http.get('*/v1/me', () => apiError(401, 'unauthenticated', 'Sign in.')));
    const otherTab = new BroadcastChannel('agentic.auth');
    otherTab.postMessage('signed-out');
    otherTab.close();
    await waitFor(() => expect(router.state.location.pathname).toBe('/login'));
  });

  it('keeps the shell when a page cannot render what the server sent', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    server.use(http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json({ ...makeAgent(), tools: null })));
    renderApp(`/agents/${AGENT_ID}`);
    expect(await screen.findByText('This page could not be shown')).toBeInTheDocument();
    expect(screen.getByRole('navigation', { name: 'Main' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Try again' })).toBeInTheDocument();
  });

  it('shows a not-found page for unknown addresses', async () => {
    renderApp('/no/such/page');
    expect(await screen.findByRole('heading', { name: 'Page not found' })).toBeInTheDocument();
  });
});
