/**
 * Default MSW handlers: a signed-in admin in one organisation with nothing in it yet. Tests add or replace
 * handlers with `server.use(...)` for what they exercise.
 */
import { http, HttpResponse } from 'msw';
import type { RenderDraftIn } from '../api/types';
import { makeMe, makeSystemInfo, makeTools, renderDraft } from './fixtures';

/** The API's error envelope. */
export const apiError = (status: number, code: string, message: string, details: unknown = null) =>
  HttpResponse.json({ error: { code, message, details } }, { status });

export const handlers = [
  http.get('*/v1/me', () => HttpResponse.json(makeMe())),
  http.get('*/v1/system/info', () => HttpResponse.json(makeSystemInfo())),
  http.get('*/v1/setup', () => HttpResponse.json({ needs_setup: true })),
  http.get('*/v1/agents', () => HttpResponse.json({ items: [], next_cursor: null })),
  http.post('*/v1/agents/render', async ({ request }) => HttpResponse.json(renderDraft((await request.json()) as RenderDraftIn))),
  http.get('*/v1/tools', () => HttpResponse.json(makeTools())),
  http.get('*/v1/schedules', () => HttpResponse.json([])),
  http.post('*/v1/schedules/preview', () => HttpResponse.json({ runs: ['2026-01-16T08:00:00Z', '2026-01-17T08:00:00Z', '2026-01-18T08:00:00Z'] })),
  http.get('*/v1/tasks', () => HttpResponse.json({ items: [], next_cursor: null })),
  http.get('*/v1/approvals', () => HttpResponse.json({ items: [], next_cursor: null })),
  http.get('*/v1/tasks/:taskId/steps', () => HttpResponse.json([])),
  http.get('*/v1/tasks/:taskId/files', () => HttpResponse.json([])),
  http.get('*/v1/tasks/:taskId/approvals', () => HttpResponse.json({ items: [], next_cursor: null })),
  http.get('*/v1/api-keys', () => HttpResponse.json([])),
  http.get('*/v1/dead-letters', () => HttpResponse.json({ items: [], next_cursor: null })),
  http.get('*/v1/queues/stats', () =>
    HttpResponse.json({
      by_state: { queued: 0, running: 0, waiting: 0, succeeded: 0, failed: 0, cancelled: 0, dead: 0 },
      oldest_queued_age_s: 0,
      expired_leases: 0,
    }),
  ),
  http.get('*/v1/usage/daily', () => HttpResponse.json([])),
  http.get('*/v1/mcp-servers', () => HttpResponse.json([])),
  http.get('*/v1/sql-connections', () => HttpResponse.json([])),
  http.get('*/v1/provider-credentials', () => HttpResponse.json([])),
  http.get('*/healthz', () => HttpResponse.json({ status: 'ok' })),
  http.get('*/readyz', () => HttpResponse.json({ status: 'ok', checks: { database: { status: 'ok', latency_ms: 1.5 } } })),
];
