import { screen, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { USER_PERMISSIONS, makeAgentSummary, makeApproval, makeMe, makeTask, uid } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { renderApp } from '../../test/render';
import { server } from '../../test/server';

const day = (n: number) => `2026-01-${String(n).padStart(2, '0')}`;
const usage = Array.from({ length: 14 }, (_, index) => ({
  day: day(index + 1),
  calls: index === 13 ? 3 : 0,
  input_tokens: index === 13 ? 1000 : index === 12 ? 100 : 0,
  output_tokens: index === 13 ? 200 : index === 12 ? 20 : 0,
  cost_usd: index === 13 ? 1.25 : index === 12 ? 0.5 : 0,
}));

describe('dashboard', () => {
  it('shows queue health, recent tasks, pending approvals and usage per day', async () => {
    let days: string | null = null;
    server.use(
      http.get('*/v1/queues/stats', () =>
        HttpResponse.json({
          by_state: { queued: 12, running: 3, waiting: 1, succeeded: 40, failed: 2, cancelled: 0, dead: 4 },
          oldest_queued_age_s: 95,
          expired_leases: 0,
        }),
      ),
      http.get('*/v1/usage/daily', ({ request }) => {
        days = new URL(request.url).searchParams.get('days');
        return HttpResponse.json(usage);
      }),
      http.get('*/v1/tasks', () => HttpResponse.json({ items: [makeTask({ id: uid(), state: 'waiting' }), makeTask({ id: uid(), state: 'failed' })], next_cursor: null })),
      http.get('*/v1/agents', () => HttpResponse.json({ items: [makeAgentSummary()], next_cursor: 'more' })),
      http.get('*/v1/approvals', () => HttpResponse.json({ items: [makeApproval()], next_cursor: null })),
    );
    const { user } = renderApp('/');

    const queue = await screen.findByRole('region', { name: 'Queue health' });
    const row = (name: string) => within(queue).getByRole('link', { name }).closest('tr')!;
    expect(await within(queue).findByText('12')).toBeInTheDocument();
    expect(row('Running')).toHaveTextContent('3');
    expect(row('Waiting')).toHaveTextContent('1');
    expect(row('Dead')).toHaveTextContent('4');
    expect(within(queue).getByText(/oldest queued task waiting 95 s/i)).toBeInTheDocument();

    expect(screen.getByText('1+')).toBeInTheDocument(); // agents: one page with more behind it
    expect(await screen.findByText('1,320')).toBeInTheDocument(); // tokens over 14 days
    expect(screen.getByText('$1.75')).toBeInTheDocument();
    expect(days).toBe('14');
    const recent = screen.getByRole('region', { name: 'Recent tasks' });
    expect(within(recent).getAllByRole('link', { name: /^Task / })).toHaveLength(2);

    const usageRegion = screen.getByRole('region', { name: 'Usage per day' });
    await user.click(await within(usageRegion).findByRole('switch', { name: 'Show as table' }));
    const table = within(usageRegion).getByRole('table', { name: 'Usage per day' });
    expect(within(table).getAllByRole('row')).toHaveLength(15); // header + 14 days
    expect(within(table).getAllByRole('row').at(-1)).toHaveTextContent(/Jan 14\s*3\s*1,000\s*200\s*\$1\.25/);
  });

  it('counts a user’s own tasks when they may not read queue stats, and survives a failing widget', async () => {
    server.use(
      http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: USER_PERMISSIONS }))),
      http.get('*/v1/tasks', ({ request }) => {
        const states = new URL(request.url).searchParams.getAll('state');
        return HttpResponse.json({ items: states.includes('queued') ? [makeTask({ id: uid(), state: 'queued' })] : [], next_cursor: null });
      }),
      http.get('*/v1/usage/daily', () => apiError(500, 'internal', 'Something broke.')),
    );
    renderApp('/');
    const queue = await screen.findByRole('region', { name: 'Queue health' });
    expect(within(queue).getByText('Your tasks.')).toBeInTheDocument();
    expect(await within(queue).findByText('1')).toBeInTheDocument();
    const usageRegion = screen.getByRole('region', { name: 'Usage per day' });
    expect(await within(usageRegion).findByRole('alert')).toHaveTextContent('Something broke.');
  });

  it('says there is no usage yet instead of drawing an empty chart', async () => {
    server.use(http.get('*/v1/usage/daily', () => HttpResponse.json(usage.map((row) => ({ ...row, calls: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 })))));
    renderApp('/');
    const usageRegion = await screen.findByRole('region', { name: 'Usage per day' });
    expect(await within(usageRegion).findByText(/No LLM calls in these days yet/)).toBeInTheDocument();
    expect(within(usageRegion).queryByRole('switch', { name: 'Show as table' })).not.toBeInTheDocument();
  });

  it('greets a member who cannot read tasks without empty widgets', async () => {
    server.use(http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: ['agents:read', 'org:read'] }))));
    renderApp('/');
    expect(await screen.findByText('Nothing to show yet')).toBeInTheDocument();
    expect(screen.queryByRole('region', { name: 'Queue health' })).not.toBeInTheDocument();
  });
});
