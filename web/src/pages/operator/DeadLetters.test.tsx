import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { makeTask, uid } from '../../test/fixtures';
import { renderApp } from '../../test/render';
import { server } from '../../test/server';

it('requeues and discards dead tasks', async () => {
  const first = makeTask({ id: uid(), state: 'dead', attempt: 3, error: { code: 'rate_limited', message: 'Provider said 429.' } });
  const second = makeTask({ id: uid(), state: 'dead', attempt: 3, error: { code: 'poison', message: 'Crashed the worker.' } });
  let dead = [first, second];
  const calls: string[] = [];
  server.use(
    http.get('*/v1/dead-letters', () => HttpResponse.json({ items: dead, next_cursor: null })),
    http.post('*/v1/dead-letters/:id/requeue', ({ params }) => {
      calls.push(`requeue ${String(params.id)}`);
      dead = dead.filter((task) => task.id !== params.id);
      return HttpResponse.json({ ...first, state: 'queued' });
    }),
    http.delete('*/v1/dead-letters/:id', ({ params }) => {
      calls.push(`discard ${String(params.id)}`);
      dead = dead.filter((task) => task.id !== params.id);
      return new HttpResponse(null, { status: 204 });
    }),
  );
  const { user } = renderApp('/dead-letters');

  const table = await screen.findByRole('table', { name: 'Dead tasks' });
  expect(within(table).getByText('rate_limited: Provider said 429.')).toBeInTheDocument();
  expect(within(table).getAllByText(/· 3 attempts$/)[0]).toBeInTheDocument();
  await user.click(within(table).getByRole('button', { name: `Requeue task ${first.id.slice(-8)}` }));
  expect(await screen.findByText(`Task ${first.id.slice(-8)} is queued again.`)).toBeInTheDocument();

  await user.click(screen.getByRole('button', { name: `Discard task ${second.id.slice(-8)}` }));
  const dialog = await screen.findByRole('dialog', { name: `Discard task ${second.id.slice(-8)}?` });
  await user.click(within(dialog).getByRole('button', { name: 'Discard task' }));
  expect(await screen.findByText('The dead-letter queue is empty')).toBeInTheDocument();
  await waitFor(() => expect(calls).toEqual([`requeue ${first.id}`, `discard ${second.id}`]));
});
