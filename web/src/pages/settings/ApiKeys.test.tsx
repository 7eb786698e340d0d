import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { makeApiKey, makeMe } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';
import { keyStatus } from './ApiKeys';

describe('API keys', () => {
  it('creates a key, shows the secret once with a copy button, and requires confirming it was stored', async () => {
    let body: Record<string, unknown> | undefined;
    const keys = [makeApiKey()];
    server.use(
      http.get('*/v1/api-keys', () => HttpResponse.json(keys)),
      http.post('*/v1/api-keys', async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        const created = { ...makeApiKey({ name: 'Zapier', scopes: body.scopes as string[], prefix: 'agk_zz99' }), key: 'agk_zz99_secretvalue' };
        keys.push(created);
        return HttpResponse.json(created, { status: 201 });
      }),
    );
    const { user } = renderApp('/settings/api-keys');

    expect(await screen.findByRole('table', { name: 'API keys' })).toHaveTextContent('CI deploys');
    await user.click(screen.getByRole('button', { name: 'Create key' }));
    const dialog = await screen.findByRole('dialog', { name: 'Create an API key' });
    await user.click(within(dialog).getByRole('checkbox', { name: /run tasks/i })); // unticks the default
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));
    expect(within(dialog).getByText('Name the key after where it is used.')).toBeInTheDocument();
    expect(within(dialog).getByText('Choose at least one scope.')).toBeInTheDocument();
    expect(body).toBeUndefined();

    await fill(user, within(dialog).getByLabelText(/^name/i), 'Zapier');
    await user.click(within(dialog).getByRole('checkbox', { name: /read agents/i }));
    await user.click(within(dialog).getByRole('checkbox', { name: /run tasks/i }));
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));

    const secret = await screen.findByRole('dialog', { name: 'Copy your new API key' });
    expect(within(secret).getByLabelText(/key “zapier”/i)).toHaveValue('agk_zz99_secretvalue');
    expect(body).toMatchObject({ name: 'Zapier', scopes: ['agents:read', 'tasks:run'] });
    expect(typeof body?.expires_at).toBe('string'); // 90 days by default

    await user.click(within(secret).getByRole('button', { name: 'Copy' }));
    expect(await navigator.clipboard.readText()).toBe('agk_zz99_secretvalue');
    const done = within(secret).getByRole('button', { name: 'Done' });
    expect(done).toBeDisabled();
    await user.click(within(secret).getByRole('checkbox', { name: /i have stored it/i }));
    await user.click(done);
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(screen.queryByText('agk_zz99_secretvalue')).not.toBeInTheDocument();
    expect(await screen.findByText('Zapier')).toBeInTheDocument();
  });

  it('rotates with a grace period (new secret shown) and revokes after confirmation', async () => {
    const key = makeApiKey({ name: 'CI deploys' });
    let rotateBody: unknown;
    let revoked = false;
    server.use(
      http.get('*/v1/api-keys', () => HttpResponse.json(revoked ? [{ ...key, revoked_at: '2026-01-15T11:00:00Z' }] : [key])),
      http.post(`*/v1/api-keys/${key.id}/rotate`, async ({ request }) => {
        rotateBody = await request.json();
        return HttpResponse.json({ ...makeApiKey({ name: 'CI deploys', rotated_from_id: key.id }), key: 'agk_new_secret' }, { status: 201 });
      }),
      http.delete(`*/v1/api-keys/${key.id}`, () => {
        revoked = true;
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const { user } = renderApp('/settings/api-keys');

    await user.click(await screen.findByRole('button', { name: 'Rotate CI deploys' }));
    const rotateDialog = await screen.findByRole('dialog', { name: 'Rotate “CI deploys”?' });
    await user.click(within(rotateDialog).getByRole('combobox', { name: /keep the old key working/i }));
    await user.click(await screen.findByRole('option', { name: 'For 1 hour' }));
    await user.click(within(rotateDialog).getByRole('button', { name: 'Rotate key' }));
    const secret = await screen.findByRole('dialog', { name: 'Copy your new API key' });
    expect(within(secret).getByRole('textbox')).toHaveValue('agk_new_secret');
    expect(rotateBody).toEqual({ grace_seconds: 3600 });
    await user.click(within(secret).getByRole('checkbox'));
    await user.click(within(secret).getByRole('button', { name: 'Done' }));

    await user.click(screen.getByRole('button', { name: 'Revoke CI deploys' }));
    const revokeDialog = await screen.findByRole('dialog', { name: 'Revoke “CI deploys”?' });
    await user.click(within(revokeDialog).getByRole('button', { name: 'Revoke key' }));
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Revoke CI deploys' })).not.toBeInTheDocument());
    expect(revoked).toBe(true);
    // Revoked keys are hidden unless asked for.
    await user.click(screen.getByRole('switch', { name: /show revoked and expired keys \(1\)/i }));
    expect(within(screen.getByRole('table', { name: 'API keys' })).getByText('revoked')).toBeInTheDocument();
  });

  it('offers the admin scope to admins only, and shows the API’s refusal', async () => {
    server.use(
      http.get('*/v1/me', () => HttpResponse.json(makeMe({ organization: { id: 'o', name: 'Acme', slug: 'acme', role: 'user' } }))),
      http.post('*/v1/api-keys', () => apiError(403, 'scope_exceeds_role', 'Your role cannot grant tasks:read.')),
    );
    const { user } = renderApp('/settings/api-keys');

    await user.click(await screen.findByRole('button', { name: /create your first key/i }));
    const dialog = await screen.findByRole('dialog', { name: 'Create an API key' });
    expect(within(dialog).queryByRole('checkbox', { name: /^admin/i })).not.toBeInTheDocument();
    await fill(user, within(dialog).getByLabelText(/^name/i), 'Reporting');
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('Your role cannot grant tasks:read.');
  });
});

describe('keyStatus', () => {
  const now = Date.parse('2026-01-15T10:00:00Z');
  it('tells active, expiring, retiring, expired and revoked keys apart', () => {
    const active = makeApiKey();
    const soon = makeApiKey({ expires_at: '2026-01-17T10:00:00Z' });
    const old = makeApiKey({ expires_at: '2026-01-16T10:00:00Z' });
    const replacement = makeApiKey({ rotated_from_id: old.id });
    const expired = makeApiKey({ expires_at: '2026-01-01T00:00:00Z' });
    const revoked = makeApiKey({ revoked_at: '2026-01-02T00:00:00Z' });
    const all = [active, soon, old, replacement, expired, revoked];
    expect(all.map((key) => keyStatus(key, all, now).label)).toEqual(['active', 'expires soon', 'retiring', 'active', 'expired', 'revoked']);
  });
});
