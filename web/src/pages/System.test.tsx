import { screen, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { renderApp } from '../test/render';
import { server } from '../test/server';

it('shows a server whose Redis is down as ready but degraded, not as failing', async () => {
  server.use(
    http.get('*/readyz', () =>
      HttpResponse.json({
        status: 'degraded',
        checks: {
          database: { status: 'ok', latency_ms: 1.2 },
          redis: { status: 'degraded', latency_ms: 2001, error: 'TimeoutError' },
        },
      }),
    ),
  );
  renderApp('/system');

  const table = await screen.findByRole('table', { name: 'Readiness' });
  expect(within(table).getByText('ready, degraded')).toBeInTheDocument();
  expect(within(table).getByText(/tasks are picked up by polling/)).toBeInTheDocument();
  const redis = within(table).getByRole('row', { name: /redis/i });
  expect(within(redis).getByText('degraded')).toBeInTheDocument();
});

it('shows a server without its database as not ready', async () => {
  server.use(
    http.get('*/readyz', () =>
      HttpResponse.json(
        {
          error: {
            code: 'not_ready',
            message: 'Not ready: database.',
            details: { checks: { database: { status: 'error', latency_ms: 2000, error: 'unreachable' } } },
          },
        },
        { status: 503 },
      ),
    ),
  );
  renderApp('/system');

  const table = await screen.findByRole('table', { name: 'Readiness' });
  expect(within(table).getByText('not ready')).toBeInTheDocument();
  expect(within(table).queryByText(/picked up by polling/)).not.toBeInTheDocument();
});
