import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import type { WebhookOut } from '../../api/types';
import { AGENT_ID, USER_ID, makeAgent, uid } from '../../test/fixtures';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

const NOW = '2026-01-15T10:00:00Z';

it('adds a webhook (secret shown once), toggles it, and redelivers a failed message', async () => {
  const webhooks: WebhookOut[] = [];
  let created: unknown;
  let patched: unknown;
  let redelivered = false;
  const deliveryId = uid();
  server.use(
    http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent())),
    http.get(`*/v1/agents/${AGENT_ID}/webhooks`, () => HttpResponse.json(webhooks)),
    http.post(`*/v1/agents/${AGENT_ID}/webhooks`, async ({ request }) => {
      const body = (await request.json()) as Omit<WebhookOut, 'id'>;
      created = body;
      const webhook = { ...body, id: uid(), agent_id: AGENT_ID, created_by_id: USER_ID, created_at: NOW, updated_at: NOW };
      webhooks.push(webhook);
      return HttpResponse.json({ ...webhook, secret: 'whsec_abc' }, { status: 201 });
    }),
    http.patch(`*/v1/agents/${AGENT_ID}/webhooks/:id`, async ({ request }) => {
      patched = await request.json();
      webhooks[0] = { ...webhooks[0]!, enabled: false };
      return HttpResponse.json(webhooks[0]);
    }),
    http.get(`*/v1/agents/${AGENT_ID}/webhooks/:id/deliveries`, () =>
      HttpResponse.json({
        items: [
          {
            id: deliveryId,
            webhook_id: webhooks[0]!.id,
            message_id: 'msg_1',
            task_id: null,
            event_type: 'task.failed',
            status: 'failed',
            attempts: 5,
            next_attempt_at: null,
            last_status_code: 500,
            last_error: null,
            created_at: NOW,
            delivered_at: null,
          },
        ],
        next_cursor: null,
      }),
    ),
    http.post(`*/v1/agents/${AGENT_ID}/webhooks/:id/deliveries/:deliveryId/redeliver`, () => {
      redelivered = true;
      return HttpResponse.json({}, { status: 202 });
    }),
  );
  const { user } = renderApp(`/agents/${AGENT_ID}?tab=webhooks`);

  const form = await screen.findByRole('form', { name: 'Add a webhook' });
  await fill(user, within(form).getByLabelText(/^url/i), 'http://example.com/hook');
  await user.click(within(form).getByRole('button', { name: 'Add webhook' }));
  expect(within(form).getByLabelText(/^url/i)).toHaveAccessibleDescription('Use an https:// URL.');

  await fill(user, within(form).getByLabelText(/^url/i), 'https://example.com/hook');
  await user.click(within(form).getByRole('checkbox', { name: 'Task cancelled' }));
  await user.click(within(form).getByRole('button', { name: 'Add webhook' }));
  const secret = await screen.findByRole('dialog', { name: 'Copy the signing secret' });
  expect(within(secret).getByRole('textbox')).toHaveValue('whsec_abc');
  expect(created).toEqual({ url: 'https://example.com/hook', events: ['task.succeeded', 'task.failed', 'task.cancelled'], description: '', enabled: true });
  await user.click(within(secret).getByRole('checkbox'));
  await user.click(within(secret).getByRole('button', { name: 'Done' }));

  const card = await screen.findByRole('region', { name: 'Webhook https://example.com/hook' });
  await user.click(within(card).getByRole('switch', { name: 'Enabled' }));
  await waitFor(() => expect(patched).toEqual({ enabled: false }));

  await user.click(within(card).getByRole('button', { name: 'Deliveries' }));
  const deliveries = await within(card).findByRole('table', { name: 'Deliveries' });
  expect(deliveries).toHaveTextContent('500');
  await user.click(within(deliveries).getByRole('button', { name: 'Send task.failed again' }));
  await waitFor(() => expect(redelivered).toBe(true));
});
