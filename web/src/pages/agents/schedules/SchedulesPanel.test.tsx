import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import type { ScheduleCreate, ScheduleOut, ScheduleUpdate } from '../../../api/types';
import { formatDateTimeZone } from '../../../components/format';
import { AGENT_ID, TASK_ID, USER_ID, USER_PERMISSIONS, makeAgent, makeMe, makeSchedule, uid } from '../../../test/fixtures';
import { apiError } from '../../../test/handlers';
import { fill, renderApp } from '../../../test/render';
import { server } from '../../../test/server';

/** A mock of `/v1/schedules` over a list the test can inspect. */
function scheduleApi(initial: ScheduleOut[] = []) {
  const state = { schedules: [...initial], created: [] as ScheduleCreate[], patched: [] as ScheduleUpdate[], deleted: [] as string[], previewed: [] as unknown[] };
  server.use(
    http.post('*/v1/schedules/preview', async ({ request }) => {
      state.previewed.push(await request.json());
      return HttpResponse.json({ runs: ['2026-01-16T08:00:00Z', '2026-01-16T08:15:00Z'] });
    }),
    http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent())),
    http.get('*/v1/schedules', ({ request }) => {
      expect(new URL(request.url).searchParams.get('agent_id')).toBe(AGENT_ID);
      return HttpResponse.json(state.schedules);
    }),
    http.post('*/v1/schedules', async ({ request }) => {
      const body = (await request.json()) as ScheduleCreate;
      state.created.push(body);
      const schedule = makeSchedule({ ...body, id: uid(), input: body.input ?? {}, priority: body.priority ?? 0, enabled: body.enabled ?? true });
      state.schedules.push(schedule);
      return HttpResponse.json(schedule, { status: 201 });
    }),
    http.patch('*/v1/schedules/:id', async ({ request, params }) => {
      const body = (await request.json()) as ScheduleUpdate;
      state.patched.push(body);
      const index = state.schedules.findIndex((schedule) => schedule.id === params.id);
      const changed = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
      const next = { ...state.schedules[index]!, ...changed };
      state.schedules[index] = { ...next, next_run_at: next.enabled ? '2026-01-16T08:00:00Z' : null };
      return HttpResponse.json(state.schedules[index]);
    }),
    http.delete('*/v1/schedules/:id', ({ params }) => {
      state.deleted.push(String(params.id));
      state.schedules = state.schedules.filter((schedule) => schedule.id !== params.id);
      return new HttpResponse(null, { status: 204 });
    }),
  );
  return state;
}

describe('the agent’s schedules', () => {
  it('lists schedules with the next run in the user’s locale, the last run and its error, and pauses one', async () => {
    const schedule = makeSchedule({ last_run_at: '2026-01-15T08:00:00Z', last_task_id: TASK_ID, last_error: 'The agent is over its concurrency cap.' });
    const api = scheduleApi([schedule]);
    const { user } = renderApp(`/agents/${AGENT_ID}?tab=schedules`);

    expect(await screen.findByRole('tab', { name: 'Schedules', selected: true })).toBeInTheDocument();
    const card = await screen.findByRole('article', { name: 'Morning digest' });
    expect(card).toHaveTextContent('0 9 * * 1-5 in Europe/Paris — Weekdays (Monday to Friday) at 09:00');
    const next = within(card).getByText(formatDateTimeZone('2026-01-16T08:00:00Z'));
    expect(next).toHaveAttribute('datetime', '2026-01-16T08:00:00Z');
    expect(card).toHaveTextContent(`${formatDateTimeZone('2026-01-16T08:00:00Z', 'Europe/Paris')} in Europe/Paris`);
    expect(within(card).getByRole('link', { name: 'open its task' })).toHaveAttribute('href', `/tasks/${TASK_ID}`);
    expect(within(card).getByRole('note')).toHaveTextContent('The last run could not be started: The agent is over its concurrency cap.');

    await user.click(within(card).getByRole('switch', { name: 'Enabled' }));
    await waitFor(() => expect(api.patched).toEqual([{ enabled: false }]));
    expect(await within(card).findByText('Paused: no runs until it is enabled again.')).toBeInTheDocument();
    expect(within(card).getByRole('switch', { name: 'Enabled' })).not.toBeChecked();
    expect(screen.getByText('Morning digest paused.')).toBeInTheDocument();
  });

  it('creates a schedule: checks the form (expression included), offers common expressions and zones, then saves', async () => {
    const api = scheduleApi();
    const { user } = renderApp(`/agents/${AGENT_ID}?tab=schedules`);
    expect(await screen.findByText('No schedules')).toBeInTheDocument();
    const open = screen.getByRole('button', { name: 'New schedule' });
    await user.click(open);

    const dialog = await screen.findByRole('dialog', { name: 'New schedule' });
    await user.click(within(dialog).getByRole('button', { name: 'Create schedule' }));
    expect(api.created).toHaveLength(0);
    const name = within(dialog).getByRole('textbox', { name: /^name/i });
    const cron = within(dialog).getByRole('textbox', { name: /^cron expression/i });
    expect(name).toHaveAccessibleDescription('Give the schedule a name.');
    expect(cron).toHaveAccessibleDescription('Enter a cron expression.');
    expect(within(dialog).getByRole('textbox', { name: /^message/i })).toHaveAccessibleDescription('This field is required.');
    await waitFor(() => expect(name).toHaveFocus());

    await fill(user, name, 'Nightly report');
    await fill(user, cron, '0 9 * *');
    expect(cron).toHaveAccessibleDescription('Five fields: minute hour day-of-month month weekday, e.g. */15 * * * *.');
    await user.click(within(dialog).getByRole('button', { name: 'Create schedule' }));
    expect(cron).toHaveAccessibleDescription('Use five fields (minute hour day-of-month month weekday); this has 4.');

    await fill(user, cron, '0 0 30 2 *');
    await user.click(within(dialog).getByRole('button', { name: 'Create schedule' }));
    expect(cron).toHaveAccessibleDescription('February has no day 30: this would never run.');
    await fill(user, cron, '61 * * * *');
    await user.click(within(dialog).getByRole('button', { name: 'Create schedule' }));
    expect(cron).toHaveAccessibleDescription('Minute must be 0–59.');
    expect(api.created).toHaveLength(0);
    await user.click(within(dialog).getByRole('group', { name: 'Common schedules' }).querySelector('button')!);
    expect(cron).toHaveValue('*/15 * * * *');
    expect(cron).toHaveAccessibleDescription('Every 15 minutes, UTC time.');

    const zone = within(dialog).getByRole('combobox', { name: /^time zone/i });
    expect(zone).toHaveValue('UTC'); // the browser's zone
    await fill(user, zone, 'Europe/Ber');
    await user.click(await screen.findByRole('option', { name: 'Europe/Berlin' }));
    // The next runs, computed by the server for the expression and zone as typed, shown in that zone.
    const runs = await within(dialog).findByRole('list');
    expect(within(runs).getAllByRole('listitem').map((item) => item.textContent)).toEqual(
      ['2026-01-16T08:00:00Z', '2026-01-16T08:15:00Z'].map((run) => formatDateTimeZone(run, 'Europe/Berlin')),
    );
    expect(api.previewed.at(-1)).toEqual({ cron: '*/15 * * * *', timezone: 'Europe/Berlin', count: 3 });
    await fill(user, within(dialog).getByRole('textbox', { name: /^message/i }), 'Summarise yesterday');
    await fill(user, within(dialog).getByRole('textbox', { name: /^priority/i }), '5');
    await user.click(within(dialog).getByRole('button', { name: 'Create schedule' }));

    await waitFor(() => expect(dialog).not.toBeInTheDocument());
    expect(api.created).toEqual([
      {
        agent_id: AGENT_ID,
        name: 'Nightly report',
        cron: '*/15 * * * *',
        timezone: 'Europe/Berlin',
        input: { message: 'Summarise yesterday' },
        priority: 5,
        enabled: true,
      },
    ]);
    expect(await screen.findByRole('article', { name: 'Nightly report' })).toBeInTheDocument();
    expect(screen.getByText('Schedule Nightly report created.')).toBeInTheDocument();
    await waitFor(() => expect(open).toHaveFocus()); // back to the opener
  });

  it('says when the server refuses the expression as typed, before saving', async () => {
    scheduleApi();
    server.use(
      http.post('*/v1/schedules/preview', () =>
        apiError(422, 'invalid_input', "'0 9 * * 5-1' is not a five-field cron expression.", [{ loc: ['body', 'cron'], message: 'invalid', type: 'invalid' }]),
      ),
    );
    const { user } = renderApp(`/agents/${AGENT_ID}?tab=schedules`);
    await user.click(await screen.findByRole('button', { name: 'New schedule' }));
    const dialog = await screen.findByRole('dialog', { name: 'New schedule' });
    await fill(user, within(dialog).getByRole('textbox', { name: /^cron expression/i }), '0 9 * * 5-1');
    expect(await within(dialog).findByText("'0 9 * * 5-1' is not a five-field cron expression.")).toBeInTheDocument();
    expect(within(dialog).queryByText('Next runs')).not.toBeInTheDocument();
  });

  it('maps the API’s refusal of an expression onto the cron field', async () => {
    scheduleApi();
    server.use(
      http.post('*/v1/schedules', () =>
        apiError(422, 'invalid_input', "'0 9 * * 5-1' is not a five-field cron expression.", [
          { loc: ['body', 'cron'], message: 'not a valid cron expression', type: 'invalid' },
        ]),
      ),
    );
    const { user } = renderApp(`/agents/${AGENT_ID}?tab=schedules`);
    await user.click(await screen.findByRole('button', { name: 'New schedule' }));
    const dialog = await screen.findByRole('dialog', { name: 'New schedule' });
    await fill(user, within(dialog).getByRole('textbox', { name: /^name/i }), 'Leap');
    const cron = within(dialog).getByRole('textbox', { name: /^cron expression/i });
    await fill(user, cron, '0 9 * * 5-1'); // passes the form's check; the API has the last word (mocked refusal)
    await fill(user, within(dialog).getByRole('textbox', { name: /^message/i }), 'x');
    await user.click(within(dialog).getByRole('button', { name: 'Create schedule' }));

    await waitFor(() => expect(cron).toHaveAccessibleDescription('not a valid cron expression'));
    expect(cron).toHaveAttribute('aria-invalid', 'true');
    expect(within(dialog).getByRole('alert')).toHaveTextContent("'0 9 * * 5-1' is not a five-field cron expression.");
    await waitFor(() => expect(cron).toHaveFocus());
  });

  it('sends only what changed when editing, and deletes after confirming', async () => {
    const schedule = makeSchedule();
    const api = scheduleApi([schedule]);
    const { user } = renderApp(`/agents/${AGENT_ID}?tab=schedules`);
    const card = await screen.findByRole('article', { name: 'Morning digest' });

    await user.click(within(card).getByRole('button', { name: 'Edit Morning digest' }));
    const dialog = await screen.findByRole('dialog', { name: 'Edit Morning digest' });
    expect(within(dialog).getByRole('textbox', { name: /^cron expression/i })).toHaveValue('0 9 * * 1-5');
    expect(within(dialog).getByRole('combobox', { name: /^time zone/i })).toHaveValue('Europe/Paris');
    expect(within(dialog).getByRole('textbox', { name: /^message/i })).toHaveValue('Summarise the night');
    await fill(user, within(dialog).getByRole('textbox', { name: /^name/i }), 'Weekday digest');
    await user.click(within(dialog).getByRole('button', { name: 'Save schedule' }));
    await waitFor(() => expect(api.patched).toEqual([{ name: 'Weekday digest' }]));
    const renamed = await screen.findByRole('article', { name: 'Weekday digest' });

    const remove = within(renamed).getByRole('button', { name: 'Delete Weekday digest' });
    await user.click(remove);
    const confirm = await screen.findByRole('dialog', { name: 'Delete Weekday digest?' });
    await user.click(within(confirm).getByRole('button', { name: 'Delete schedule' }));
    await waitFor(() => expect(api.deleted).toEqual([schedule.id]));
    expect(await screen.findByText('No schedules')).toBeInTheDocument();
    // The card (and its button) is gone: focus goes to the list's heading, not to the page's start.
    await waitFor(() => expect(screen.getByRole('heading', { name: 'Schedules', level: 2 })).toHaveFocus());
  });

  it('lets members change only their own schedules, and readers only look', async () => {
    scheduleApi([makeSchedule({ name: 'Mine' }), makeSchedule({ name: 'Theirs', created_by_id: uid() })]);
    server.use(http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: USER_PERMISSIONS }))));
    const view = renderApp(`/agents/${AGENT_ID}?tab=schedules`);
    const mine = await screen.findByRole('article', { name: 'Mine' });
    const theirs = screen.getByRole('article', { name: 'Theirs' });
    expect(within(mine).getByRole('button', { name: 'Edit Mine' })).toBeInTheDocument();
    expect(within(theirs).queryByRole('button', { name: /edit/i })).not.toBeInTheDocument();
    expect(within(theirs).getByRole('switch', { name: 'Enabled' })).toBeDisabled();
    expect(within(theirs).getByText('Only its creator or an agent manager can change it.')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'New schedule' })).toBeInTheDocument();
    view.unmount();

    server.use(http.get('*/v1/me', () => HttpResponse.json(makeMe({ id: USER_ID, permissions: ['agents:read', 'tasks:read'] }))));
    renderApp(`/agents/${AGENT_ID}?tab=schedules`);
    expect(await screen.findByRole('article', { name: 'Mine' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'New schedule' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /^edit/i })).not.toBeInTheDocument();
  });
});
