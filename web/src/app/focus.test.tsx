/** Focus management: headings after navigation, and where focus goes when a dialog closes. */
import { screen, waitFor, within } from '@testing-library/react';
import { delay, http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { AGENT_ID, makeAgent, makeApiKey, uid } from '../test/fixtures';
import { apiError } from '../test/handlers';
import { renderApp } from '../test/render';
import { server } from '../test/server';

const h1 = (name: string | RegExp) => screen.findByRole('heading', { level: 1, name });

describe('after navigating', () => {
  it('focuses the new page’s heading on public pages too', async () => {
    server.use(http.get('*/v1/me', () => apiError(401, 'unauthenticated', 'Sign in.')));
    const { user } = renderApp('/login');
    expect(await h1('Sign in')).not.toHaveFocus(); // the first page load keeps the browser’s focus

    await user.click(screen.getByRole('link', { name: 'Create an account' }));
    await waitFor(async () => expect(await h1('Create your account')).toHaveFocus());
  });

  it('focuses the heading of a page still loading its data, and keeps it there when the data arrives', async () => {
    server.use(
      http.get('*/v1/agents', () => HttpResponse.json({ items: [makeAgent()], next_cursor: null })),
      http.get(`*/v1/agents/${AGENT_ID}`, async () => {
        await delay(300);
        return HttpResponse.json(makeAgent());
      }),
    );
    const { user } = renderApp('/agents');
    await user.click(await screen.findByRole('link', { name: 'Support triage' }));

    const heading = await h1('Agent');
    await waitFor(() => expect(heading).toHaveFocus());
    expect(screen.getByRole('status')).toHaveTextContent('Loading the agent…');
    await waitFor(() => expect(heading).toHaveTextContent('Support triage'));
    expect(heading).toHaveFocus();
  });

  it('gives a page that failed to render a heading too', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    server.use(http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json({ ...makeAgent(), tools: null })));
    renderApp(`/agents/${AGENT_ID}`);
    expect(await h1('This page could not be shown')).toBeInTheDocument();
  });
});

describe('when a dialog closes', () => {
  it('returns focus to the button that opened it', async () => {
    server.use(http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent())));
    const { user } = renderApp(`/agents/${AGENT_ID}`);
    const run = await screen.findByRole('button', { name: 'Run' });
    await user.click(run);
    const dialog = await screen.findByRole('dialog', { name: 'Run Support triage' });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(run).toHaveFocus());

    await user.click(screen.getByRole('tab', { name: 'Schedules' }));
    const create = await screen.findByRole('button', { name: 'New schedule' });
    await user.click(create);
    await user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(create).toHaveFocus();
  });

  it('moves focus to the page’s heading when what opened it is gone', async () => {
    const key = makeApiKey();
    let revoked = false;
    server.use(
      http.get('*/v1/api-keys', () => HttpResponse.json(revoked ? [] : [key])),
      http.delete(`*/v1/api-keys/${key.id}`, () => {
        revoked = true;
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const { user } = renderApp('/settings/api-keys');
    await user.click(await screen.findByRole('button', { name: 'Revoke CI deploys' }));
    const dialog = await screen.findByRole('dialog', { name: 'Revoke “CI deploys”?' });
    await user.click(within(dialog).getByRole('button', { name: 'Revoke key' }));

    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    await waitFor(() => expect(screen.getByRole('heading', { level: 1, name: 'API keys' })).toHaveFocus());
  });

  it('moves focus to the page’s heading when a dialog went away with the card that held it', async () => {
    const webhookId = uid();
    const NOW = '2026-01-15T10:00:00Z';
    let deleted = false;
    server.use(
      http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent())),
      http.get(`*/v1/agents/${AGENT_ID}/webhooks`, () =>
        HttpResponse.json(
          deleted
            ? []
            : [
                {
                  id: webhookId,
                  agent_id: AGENT_ID,
                  url: 'https://example.com/hook',
                  events: ['task.failed'],
                  description: '',
                  enabled: true,
                  created_by_id: null,
                  created_at: NOW,
                  updated_at: NOW,
                },
              ],
        ),
      ),
      http.delete(`*/v1/agents/${AGENT_ID}/webhooks/:id`, () => {
        deleted = true;
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const { user } = renderApp(`/agents/${AGENT_ID}?tab=webhooks`);
    const card = await screen.findByRole('region', { name: 'Webhook https://example.com/hook' });
    await user.click(within(card).getByRole('button', { name: 'Delete' }));
    await user.click(within(await screen.findByRole('dialog', { name: 'Delete this webhook?' })).getByRole('button', { name: 'Delete webhook' }));

    await waitFor(() => expect(card).not.toBeInTheDocument());
    await waitFor(() => expect(screen.getByRole('heading', { level: 1, name: 'Support triage' })).toHaveFocus());
  });
});
