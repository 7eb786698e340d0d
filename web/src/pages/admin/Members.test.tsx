import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { ORG_ID, USER_ID, USER_PERMISSIONS, makeMe, uid } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

const other = uid();
const members = [
  { user_id: USER_ID, email: 'ada@example.com', display_name: 'Ada', role: 'admin', joined_at: '2026-01-01T00:00:00Z' },
  { user_id: other, email: 'bob@example.com', display_name: null, role: 'user', joined_at: '2026-01-02T00:00:00Z' },
];
const org = { id: ORG_ID, name: 'Acme', slug: 'acme', plan: 'free', billing_email: null, created_at: '2026-01-01T00:00:00Z', role: 'admin', store_llm_content: true };

it('changes roles (showing the last-admin refusal), invites by email and withdraws invitations', async () => {
  let invitations: unknown[] = [];
  const roleChanges: unknown[] = [];
  server.use(
    http.get(`*/v1/orgs/${ORG_ID}/members`, () => HttpResponse.json(members)),
    http.get(`*/v1/orgs/${ORG_ID}`, () => HttpResponse.json(org)),
    http.get(`*/v1/orgs/${ORG_ID}/invitations`, () => HttpResponse.json(invitations)),
    http.patch(`*/v1/orgs/${ORG_ID}/members/:userId`, async ({ request, params }) => {
      roleChanges.push({ user: params.userId, ...((await request.json()) as object) });
      if (params.userId === USER_ID) return apiError(409, 'last_admin', 'The organisation needs at least one admin.');
      return HttpResponse.json({ ...members[1], role: 'operator' });
    }),
    http.post(`*/v1/orgs/${ORG_ID}/invitations`, async ({ request }) => {
      const body = (await request.json()) as { email: string; role: string };
      const invitation = { id: uid(), ...body, invited_by_id: USER_ID, created_at: '2026-01-15T10:00:00Z', expires_at: '2026-01-22T10:00:00Z' };
      invitations = [invitation];
      return HttpResponse.json(invitation, { status: 201 });
    }),
    http.delete(`*/v1/orgs/${ORG_ID}/invitations/:id`, () => {
      invitations = [];
      return new HttpResponse(null, { status: 204 });
    }),
  );
  const { user } = renderApp('/admin/members');

  const table = await screen.findByRole('table', { name: 'Members' });
  await user.click(within(table).getByRole('combobox', { name: /role of ada/i }));
  await user.click(await screen.findByRole('option', { name: 'User' }));
  expect(await within(table).findByRole('alert')).toHaveTextContent('The organisation needs at least one admin.');

  await user.click(within(table).getByRole('combobox', { name: /role of bob@example.com/i }));
  await user.click(await screen.findByRole('option', { name: 'Operator' }));
  await waitFor(() => expect(roleChanges).toContainEqual({ user: other, role: 'operator' }));

  const invitationsRegion = screen.getByRole('region', { name: 'Invitations' });
  await user.click(within(invitationsRegion).getByRole('button', { name: 'Invite' }));
  expect(within(invitationsRegion).getByLabelText(/^email/i)).toHaveAccessibleDescription('Enter the address to invite.');
  await fill(user, within(invitationsRegion).getByLabelText(/^email/i), 'cleo@example.com');
  await user.click(within(invitationsRegion).getByRole('button', { name: 'Invite' }));
  expect(await within(invitationsRegion).findByText('Invitation mailed to cleo@example.com.')).toBeInTheDocument();
  // No mail server here (the default handlers): the invitation is in the local outbox, and the page says so.
  expect(within(invitationsRegion).getByRole('note', { name: 'Where the message went' })).toHaveTextContent('written to the local outbox');
  const pending = await within(invitationsRegion).findByRole('table', { name: 'Pending invitations' });
  await user.click(within(pending).getByRole('button', { name: /withdraw the invitation to cleo@example.com/i }));
  expect(await within(invitationsRegion).findByText('No pending invitations.')).toBeInTheDocument();
});

it('shows members read-only to a user', async () => {
  server.use(
    http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: USER_PERMISSIONS }))),
    http.get(`*/v1/orgs/${ORG_ID}/members`, () => HttpResponse.json(members)),
  );
  renderApp('/admin/members');
  const table = await screen.findByRole('table', { name: 'Members' });
  expect(within(table).queryByRole('combobox')).not.toBeInTheDocument();
  expect(within(table).queryByRole('button', { name: /remove/i })).not.toBeInTheDocument();
  expect(screen.queryByRole('region', { name: 'Invitations' })).not.toBeInTheDocument();
});
