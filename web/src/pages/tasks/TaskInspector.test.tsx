import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TaskOut } from '../../api/types';
import { AGENT_ID, TASK_ID, makeAgent, makeApproval, makeEvent, makeMe, makeStep, makeTask, uid } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';
import { sseResponse } from '../../test/sse';
import { streamSettings } from './useTaskStream';

const original = streamSettings.backoff;
beforeEach(() => {
  streamSettings.backoff = () => 10;
});
afterEach(() => {
  streamSettings.backoff = original;
});

function taskHandlers(task: () => TaskOut, extra: { steps?: () => unknown; approvals?: () => unknown; files?: () => unknown } = {}) {
  return [
    http.get(`*/v1/tasks/${TASK_ID}/files`, () => HttpResponse.json(extra.files?.() ?? [])),
    http.get(`*/v1/tasks/${TASK_ID}`, () => HttpResponse.json(task())),
    http.get(`*/v1/tasks/${TASK_ID}/steps`, () => HttpResponse.json(extra.steps?.() ?? [])),
    http.get(`*/v1/tasks/${TASK_ID}/approvals`, () => HttpResponse.json(extra.approvals?.() ?? { items: [], next_cursor: null })),
    http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent())),
  ];
}

describe('live streaming', () => {
  it('shows tokens as they stream, then the checkpointed step with tokens, cost and latency', async () => {
    let state: TaskOut['state'] = 'running';
    let steps: unknown[] = [];
    const accept: (string | null)[] = [];
    server.use(
      ...taskHandlers(() => makeTask({ state, output: state === 'succeeded' ? { text: 'Hello there', stop_reason: 'final' } : null }), {
        steps: () => steps,
      }),
      http.get(`*/v1/tasks/${TASK_ID}/events`, ({ request }) => {
        accept.push(request.headers.get('accept'));
        return sseResponse([
          makeEvent(1, 'task.started'),
          makeEvent(2, 'step.started', { step: 'llm-1', kind: 'llm', name: 'mock:echo' }),
          makeEvent(3, 'llm.tokens', { step: 'llm-1', text: 'Hello ' }),
          400,
          makeEvent(4, 'llm.tokens', { step: 'llm-1', text: 'there' }),
          60,
          ': keep-alive\n\n',
          () => {
            // The step is checkpointed and the task finishes before the last events are sent.
            steps = [makeStep({ output: { ...(makeStep().output as object), content: 'Hello there' } })];
            state = 'succeeded';
          },
          makeEvent(5, 'step.succeeded', { step: 'llm-1' }),
          makeEvent(6, 'task.succeeded'),
        ]);
      }),
    );
    renderApp(`/tasks/${TASK_ID}`);
    // The state is a status region: its change to "succeeded" is announced.
    expect(await screen.findByRole('status', { name: 'Task state' })).toHaveTextContent('running');

    // Before the step is checkpointed, its text grows as token batches arrive.
    const soFar = await screen.findByLabelText('Answer so far of llm-1');
    await waitFor(() => expect(soFar).toHaveTextContent(/^Hello$/));
    expect(await screen.findByText('Hello there', { selector: 'pre' })).toBeInTheDocument();
    expect(accept[0]).toBe('text/event-stream');
    expect(await screen.findByText('Finished')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole('status', { name: 'Task state' })).toHaveTextContent('succeeded'));
    const timeline = screen.getByRole('list', { name: 'Steps' });
    await waitFor(() => expect(within(timeline).getByText('mock:echo')).toBeInTheDocument());
    expect(within(timeline).getByText(/15 tokens · \$0\.0012/)).toBeInTheDocument();
    expect(within(timeline).getByText('1.3 s')).toBeInTheDocument(); // latency from the step's timestamps
    expect(screen.getByRole('table', { name: 'Events' })).toHaveTextContent('task.succeeded');
    // Token batches are folded into the step's text, not listed as events.
    expect(screen.getByRole('table', { name: 'Events' })).not.toHaveTextContent('llm.tokens');
  });

  it('reconnects after a drop, resuming after the last event it saw (Last-Event-ID)', async () => {
    const lastIds: (string | null)[] = [];
    let state: TaskOut['state'] = 'running';
    server.use(
      ...taskHandlers(() => makeTask({ state })),
      http.get(`*/v1/tasks/${TASK_ID}/events`, ({ request }) => {
        lastIds.push(request.headers.get('last-event-id'));
        if (lastIds.length === 1) return sseResponse([makeEvent(1, 'task.started'), makeEvent(2, 'step.started', { step: 'llm-1' })], 'error');
        if (lastIds.length === 2) return apiError(502, 'bad_gateway', 'Upstream restarting.');
        state = 'succeeded';
        return sseResponse([makeEvent(3, 'step.succeeded', { step: 'llm-1' }), makeEvent(4, 'task.succeeded')]);
      }),
    );
    renderApp(`/tasks/${TASK_ID}`);

    expect(await screen.findByText('Finished')).toBeInTheDocument();
    expect(lastIds).toEqual([null, '2', '2']);
    const events = screen.getByRole('table', { name: 'Events' });
    expect(within(events).getAllByRole('row')).toHaveLength(5); // header + 4 events, none twice
  });

  it('stops following when the task is gone, and says so', async () => {
    server.use(
      ...taskHandlers(() => makeTask()),
      http.get(`*/v1/tasks/${TASK_ID}/events`, () => apiError(404, 'not_found', 'Task not found.')),
    );
    renderApp(`/tasks/${TASK_ID}`);
    expect(await screen.findByText('Live updates unavailable')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Reconnect now' })).toBeInTheDocument();
  });
});

describe('acting on a task', () => {
  it('approves a gated tool call showing the exact arguments', async () => {
    const approval = makeApproval();
    let decided: unknown;
    server.use(
      ...taskHandlers(() => makeTask({ state: 'waiting' }), {
        approvals: () => ({ items: [decided ? { ...approval, status: 'approved', comment: 'ok' } : approval], next_cursor: null }),
      }),
      http.get(`*/v1/tasks/${TASK_ID}/events`, () => sseResponse([makeEvent(1, 'task.waiting', { step: 'approval-1-1' })], 'open')),
      http.post(`*/v1/tasks/${TASK_ID}/approvals/${approval.id}`, async ({ request }) => {
        decided = await request.json();
        return HttpResponse.json({ ...approval, status: 'approved' });
      }),
    );
    const { user } = renderApp(`/tasks/${TASK_ID}`);

    const card = await screen.findByRole('region', { name: /approval needed: http_request/i });
    expect(within(card).getByLabelText('Arguments of http_request')).toHaveTextContent('"url": "https://api.example.com/users/7"');
    await fill(user, within(card).getByLabelText(/comment/i), 'ok');
    await user.click(within(card).getByRole('button', { name: 'Approve' }));

    await waitFor(() => expect(decided).toEqual({ decision: 'approve', comment: 'ok' }));
    expect(await screen.findByRole('region', { name: /^approval: http_request/i })).toHaveTextContent('approved');
  });

  it('cancels a running task after confirmation', async () => {
    let cancelled = false;
    server.use(
      ...taskHandlers(() => makeTask({ cancel_requested: cancelled })),
      http.get(`*/v1/tasks/${TASK_ID}/events`, () => sseResponse([], 'open')),
      http.post(`*/v1/tasks/${TASK_ID}/cancel`, () => {
        cancelled = true;
        return HttpResponse.json(makeTask({ cancel_requested: true }));
      }),
    );
    const { user } = renderApp(`/tasks/${TASK_ID}`);

    await user.click(await screen.findByRole('button', { name: 'Cancel' }));
    const dialog = await screen.findByRole('dialog', { name: 'Cancel this task?' });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel task' }));
    expect(await screen.findByRole('button', { name: 'Cancelling…' })).toBeDisabled();
    expect(cancelled).toBe(true);
  });

  it('retries a failed task from a chosen step and opens the new task', async () => {
    const retryId = uid();
    let body: unknown;
    server.use(
      ...taskHandlers(() => makeTask({ state: 'failed', error: { code: 'timeout', message: 'The tool timed out.' }, finished_at: '2026-01-15T10:00:05Z' }), {
        steps: () => [
          makeStep(),
          makeStep({ step_key: 'tool-1-1', position: 2, kind: 'tool', name: 'http_request', status: 'failed', input: { arguments: { url: 'https://x' } }, output: null, error: { code: 'timeout' } }),
        ],
      }),
      http.get(`*/v1/tasks/${TASK_ID}/events`, () => sseResponse([makeEvent(1, 'task.failed')])),
      http.post(`*/v1/tasks/${TASK_ID}/retry`, async ({ request }) => {
        body = await request.json();
        return HttpResponse.json(makeTask({ id: retryId, state: 'queued', parent_task_id: TASK_ID }), { status: 201 });
      }),
      http.get(`*/v1/tasks/${retryId}`, () => HttpResponse.json(makeTask({ id: retryId, state: 'queued', parent_task_id: TASK_ID }))),
      http.get(`*/v1/tasks/${retryId}/steps`, () => HttpResponse.json([])),
      http.get(`*/v1/tasks/${retryId}/approvals`, () => HttpResponse.json({ items: [], next_cursor: null })),
      http.get(`*/v1/tasks/${retryId}/events`, () => sseResponse([], 'open')),
      http.get(`*/v1/tasks/${retryId}/files`, () => HttpResponse.json([])),
    );
    const { user, router } = renderApp(`/tasks/${TASK_ID}`);

    expect(await screen.findByText('The tool timed out.')).toBeInTheDocument();
    const timeline = screen.getByRole('list', { name: 'Steps' });
    // The failed tool step is expanded: arguments and error are visible.
    expect(within(timeline).getByLabelText('Arguments of http_request')).toHaveTextContent('https://x');
    const retryButtons = within(timeline).getAllByRole('button', { name: 'Retry from this step' });
    await user.click(retryButtons[1]!);
    const dialog = await screen.findByRole('dialog', { name: 'Retry task' });
    expect(within(dialog).getByRole('combobox', { name: /start from/i })).toHaveTextContent('Step 2: tool http_request');
    await user.click(within(dialog).getByRole('button', { name: 'Retry' }));

    await waitFor(() => expect(router.state.location.pathname).toBe(`/tasks/${retryId}`));
    expect(body).toEqual({ from_step: 2, agent_version: null });
    expect(await screen.findByRole('link', { name: TASK_ID.slice(-8) })).toBeInTheDocument(); // "Retry of"
  });

  it('an operator requeues a dead task from its page, which then follows it live again', async () => {
    let state: TaskOut['state'] = 'dead';
    let requeued = 0;
    let streams = 0;
    server.use(
      ...taskHandlers(() => makeTask({ state, error: state === 'dead' ? { code: 'provider_unavailable', message: 'mock server error 503' } : null })),
      http.get(`*/v1/tasks/${TASK_ID}/events`, () => {
        streams += 1;
        if (state === 'dead') return sseResponse([makeEvent(1, 'task.failed')]);
        state = 'succeeded';
        return sseResponse([makeEvent(2, 'task.started'), makeEvent(3, 'task.succeeded')]);
      }),
      http.post(`*/v1/dead-letters/${TASK_ID}/requeue`, () => {
        requeued += 1;
        state = 'queued';
        return HttpResponse.json(makeTask({ state: 'queued' }));
      }),
    );
    const { user } = renderApp(`/tasks/${TASK_ID}`);
    const taskState = await screen.findByRole('status', { name: 'Task state' });
    await waitFor(() => expect(taskState).toHaveTextContent('dead'));
    expect(await screen.findByText('Finished')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Requeue' }));
    await waitFor(() => expect(screen.getByRole('status', { name: 'Task state' })).toHaveTextContent('succeeded'));
    expect(requeued).toBe(1);
    expect(streams).toBe(2);
    expect(screen.queryByRole('button', { name: 'Requeue' })).not.toBeInTheDocument();
  });

  it('does not offer requeue to a member without tasks:manage', async () => {
    server.use(
      http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: ['tasks:read', 'tasks:run', 'agents:read'] }))),
      ...taskHandlers(() => makeTask({ state: 'dead' })),
      http.get(`*/v1/tasks/${TASK_ID}/events`, () => sseResponse([makeEvent(1, 'task.failed')])),
    );
    renderApp(`/tasks/${TASK_ID}`);
    expect(await screen.findByRole('button', { name: 'Retry' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Requeue' })).not.toBeInTheDocument();
  });

  it('lists the task’s files and downloads one', async () => {
    const fileId = uid();
    let downloaded = false;
    const createObjectURL = vi.spyOn(URL, 'createObjectURL');
    server.use(
      ...taskHandlers(() => makeTask({ state: 'succeeded' }), {
        files: () => [{ id: fileId, direction: 'out', name: 'out/report.csv', size: 2048, sha256: 'x', step_key: 'tool-1-1', created_at: '2026-01-15T10:00:00Z' }],
      }),
      http.get(`*/v1/tasks/${TASK_ID}/events`, () => sseResponse([makeEvent(1, 'task.succeeded')])),
      http.get(`*/v1/tasks/${TASK_ID}/files/${fileId}`, () => {
        downloaded = true;
        return new HttpResponse('a,b\n', { headers: { 'content-type': 'application/octet-stream' } });
      }),
    );
    const { user } = renderApp(`/tasks/${TASK_ID}`);
    const files = await screen.findByRole('table', { name: 'Files' });
    expect(files).toHaveTextContent('out/report.csv');
    expect(files).toHaveTextContent('2.0 KB');
    await user.click(within(files).getByRole('button', { name: 'Download out/report.csv' }));
    await waitFor(() => expect(createObjectURL).toHaveBeenCalled());
    expect(downloaded).toBe(true);
  });

  it('hides actions from a member who neither created the task nor operates', async () => {
    server.use(
      http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: ['tasks:read', 'tasks:run', 'tasks:read_all', 'agents:read'] }))),
      ...taskHandlers(() => makeTask({ created_by_id: uid() })),
      http.get(`*/v1/tasks/${TASK_ID}/events`, () => sseResponse([], 'open')),
    );
    renderApp(`/tasks/${TASK_ID}`);
    expect(await screen.findByRole('heading', { name: `Task ${TASK_ID.slice(-8)}` })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Cancel' })).not.toBeInTheDocument();
  });
});
