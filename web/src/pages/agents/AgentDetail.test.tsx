import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { AGENT_ID, TASK_ID, makeAgent, makeTask } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

it('runs the agent with a form generated from its input schema', async () => {
  const requests: { body: unknown; key: string | null }[] = [];
  server.use(
    http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent())),
    http.post('*/v1/tasks', async ({ request }) => {
      const body = (await request.json()) as { input: Record<string, unknown> };
      requests.push({ body, key: request.headers.get('idempotency-key') });
      if (body.input.message === 'bad') {
        return apiError(422, 'invalid_input', 'The input does not match the schema.', [
          { loc: ['body', 'input', 'message'], message: 'must not be "bad"' },
        ]);
      }
      return HttpResponse.json(makeTask({ input: body.input, state: 'queued' }), { status: 201 });
    }),
    http.get(`*/v1/tasks/${TASK_ID}`, () => HttpResponse.json(makeTask({ state: 'queued' }))),
    http.get(`*/v1/tasks/${TASK_ID}/steps`, () => HttpResponse.json([])),
    http.get(`*/v1/tasks/${TASK_ID}/approvals`, () => HttpResponse.json({ items: [], next_cursor: null })),
    http.get(`*/v1/tasks/${TASK_ID}/events`, () => new HttpResponse('', { headers: { 'content-type': 'text/event-stream' } })),
  );
  const { user, router } = renderApp(`/agents/${AGENT_ID}`);

  await user.click(await screen.findByRole('button', { name: 'Run' }));
  const dialog = await screen.findByRole('dialog', { name: 'Run Support triage' });
  await user.click(within(dialog).getByRole('button', { name: 'Start run' }));
  // "message" is required by the schema: checked before anything is sent.
  expect(within(dialog).getByLabelText(/^message/i)).toHaveAccessibleDescription('This field is required.');
  expect(requests).toHaveLength(0);

  await fill(user, within(dialog).getByLabelText(/^message/i), 'bad');
  await user.click(within(dialog).getByRole('button', { name: 'Start run' }));
  await waitFor(() => expect(within(dialog).getByLabelText(/^message/i)).toHaveAccessibleDescription('must not be "bad"'));

  await fill(user, within(dialog).getByLabelText(/^message/i), 'Where is my parcel?');
  await fill(user, within(dialog).getByLabelText(/^customer/i), 'Ada');
  await user.click(within(dialog).getByRole('button', { name: 'Start run' }));

  await waitFor(() => expect(router.state.location.pathname).toBe(`/tasks/${TASK_ID}`));
  expect(requests[1]?.body).toEqual({ agent_id: AGENT_ID, input: { customer: 'Ada', message: 'Where is my parcel?' }, priority: 0 });
  // One idempotency key per opened form: a repeated submit cannot start a second task.
  expect(requests[1]?.key).toBe(requests[0]?.key);
  expect(requests[1]?.key).toMatch(/^[0-9a-f-]{36}$/);
});

it('compares versions and rolls back to an earlier one', async () => {
  let rolledBackTo: unknown;
  server.use(
    http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent({ latest_version: 3 }))),
    http.get(`*/v1/agents/${AGENT_ID}/versions`, () =>
      HttpResponse.json({
        items: [3, 2, 1].map((version) => ({ id: `v${version}`, version, created_by_id: null, created_at: '2026-01-15T10:00:00Z' })),
        next_cursor: null,
      }),
    ),
    http.get(`*/v1/agents/${AGENT_ID}/diff`, ({ request }) => {
      const url = new URL(request.url);
      return HttpResponse.json({
        agent_id: AGENT_ID,
        from_version: Number(url.searchParams.get('from')),
        to_version: Number(url.searchParams.get('to')),
        changes: [
          { path: '/model/options/temperature', op: 'changed', from: 0.2, to: 0.7 },
          { path: '/tools/0', op: 'added', from: null, to: { name: 'python' } },
        ],
      });
    }),
    http.post(`*/v1/agents/${AGENT_ID}/rollback`, async ({ request }) => {
      rolledBackTo = await request.json();
      return HttpResponse.json(makeAgent({ latest_version: 4 }));
    }),
  );
  const { user } = renderApp(`/agents/${AGENT_ID}?tab=versions`);

  const diff = await screen.findByRole('table', { name: 'Changes from version 2 to 3' });
  expect(within(diff).getByText('/model/options/temperature')).toBeInTheDocument();
  expect(within(diff).getByText('0.7')).toBeInTheDocument();

  await user.click(screen.getByRole('button', { name: 'Roll back to version 1' }));
  const dialog = await screen.findByRole('dialog', { name: 'Roll back to version 1?' });
  await user.click(within(dialog).getByRole('button', { name: 'Roll back' }));

  expect(await screen.findByText(/version 1’s configuration is now the latest \(version 4\)/i)).toBeInTheDocument();
  expect(rolledBackTo).toEqual({ version: 1 });
});

it('shows “not found” for an agent that does not exist (or is private to someone else)', async () => {
  server.use(http.get(`*/v1/agents/${AGENT_ID}`, () => apiError(404, 'not_found', 'Agent not found.')));
  renderApp(`/agents/${AGENT_ID}`);
  const alert = await screen.findByRole('alert');
  expect(alert).toHaveTextContent('Not found');
  expect(alert).toHaveTextContent('Agent not found.');
  expect(within(alert).queryByRole('button', { name: 'Try again' })).not.toBeInTheDocument();
});

it('sends attached files with the run, base64-encoded under a safe name', async () => {
  let body: { files?: { name: string; content_base64: string }[] } | undefined;
  server.use(
    http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent({ input_schema: null }))),
    http.post('*/v1/tasks', async ({ request }) => {
      body = (await request.json()) as typeof body;
      return apiError(409, 'conflict', 'Stop here.');
    }),
  );
  const { user } = renderApp(`/agents/${AGENT_ID}`);
  await user.click(await screen.findByRole('button', { name: 'Run' }));
  const dialog = await screen.findByRole('dialog', { name: 'Run Support triage' });
  await fill(user, within(dialog).getByLabelText(/^message/i), 'Sum the sales');
  await user.upload(within(dialog).getByLabelText('Attach files'), new File(['a,b\n1,2\n'], 'sales 2025.csv', { type: 'text/csv' }));
  expect(within(dialog).getByRole('button', { name: 'Remove sales 2025.csv' })).toBeInTheDocument();
  await user.click(within(dialog).getByRole('button', { name: 'Start run' }));

  expect(await within(dialog).findByRole('alert')).toHaveTextContent('Stop here.');
  expect(body?.files).toEqual([{ name: 'sales_2025.csv', content_base64: btoa('a,b\n1,2\n') }]);
});
