import { screen, waitFor } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { apiError } from '../../test/handlers';
import { renderApp } from '../../test/render';
import { server } from '../../test/server';

it('asks a signed-out visitor to sign in and come back', async () => {
  server.use(http.get('*/v1/me', () => apiError(401, 'unauthenticated', 'Sign in.')));
  const { router } = renderApp('/accept-invitation?token=inv-1');
  const signIn = await screen.findByRole('link', { name: 'Sign in to accept' });
  expect(signIn.getAttribute('href')).toContain('redirect=%2Faccept-invitation%3Ftoken%3Dinv-1');
  // A 401 here is expected: the page does not bounce to /login on its own.
  expect(router.state.location.pathname).toBe('/accept-invitation');
});

it('accepts for the signed-in user, switches to the new organisation, and explains refusals', async () => {
  let attempts = 0;
  server.use(
    http.post('*/v1/invitations/accept', () => {
      attempts += 1;
      if (attempts === 1) return apiError(403, 'invitation_email_mismatch', 'This invitation was sent to another address.');
      return HttpResponse.json({ id: 'org-9', name: 'Globex', slug: 'globex', plan: 'free', billing_email: null, created_at: '2026-01-01T00:00:00Z', role: 'operator' });
    }),
  );
  const { user } = renderApp('/accept-invitation?token=inv-1');

  await user.click(await screen.findByRole('button', { name: 'Accept invitation' }));
  expect(await screen.findByRole('alert')).toHaveTextContent('This invitation was sent to another address.');
  await user.click(screen.getByRole('button', { name: 'Accept invitation' }));
  expect(await screen.findByRole('heading', { name: 'Welcome aboard' })).toBeInTheDocument();
  expect(screen.getByRole('status')).toHaveTextContent('You joined Globex as operator.');
  await waitFor(() => expect(window.localStorage.getItem('agentic.org')).toBe('org-9'));
});
