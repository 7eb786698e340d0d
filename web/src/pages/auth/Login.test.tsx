import { screen } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { makeMe } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { renderApp } from '../../test/render';
import { server } from '../../test/server';

const tokens = { access_token: 'a', token_type: 'bearer', expires_in: 900, refresh_token: 'r', refresh_expires_in: 86400, csrf_token: 'csrf-1' };

it('sends a signed-out visitor to sign in, then back to the page they wanted', async () => {
  let signedIn = false;
  let loginBody: unknown;
  server.use(
    http.get('*/v1/me', () => (signedIn ? HttpResponse.json(makeMe()) : apiError(401, 'unauthenticated', 'Sign in.'))),
    http.post('*/v1/auth/login', async ({ request }) => {
      loginBody = await request.json();
      signedIn = true;
      return HttpResponse.json(tokens);
    }),
  );
  const { user, router } = renderApp('/tasks');

  expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
  expect(router.state.location.pathname).toBe('/login');
  expect(router.state.location.search).toEqual({ redirect: '/tasks' });

  await user.type(screen.getByLabelText(/email/i), 'ada@example.com');
  await user.type(screen.getByLabelText(/^password/i), 'correct horse battery');
  await user.click(screen.getByRole('button', { name: 'Sign in' }));

  expect(await screen.findByRole('heading', { name: 'Tasks', level: 1 })).toBeInTheDocument();
  expect(router.state.location.pathname).toBe('/tasks');
  expect(loginBody).toEqual({ email: 'ada@example.com', password: 'correct horse battery' });
});

it('says the credentials are wrong without sending an empty form', async () => {
  let calls = 0;
  server.use(
    http.post('*/v1/auth/login', () => {
      calls += 1;
      return apiError(401, 'invalid_credentials', 'The email or password is wrong.');
    }),
  );
  const { user } = renderApp('/login');

  await user.click(await screen.findByRole('button', { name: 'Sign in' }));
  expect(calls).toBe(0);
  expect(screen.getByLabelText(/email/i)).toHaveAccessibleDescription('Enter your email address.');

  await user.type(screen.getByLabelText(/email/i), 'ada@example.com');
  await user.type(screen.getByLabelText(/^password/i), 'nope nope nope');
  await user.click(screen.getByRole('button', { name: 'Sign in' }));
  expect(await screen.findByRole('alert')).toHaveTextContent('The email or password is wrong.');
  expect(calls).toBe(1);
});

it('offers a new verification link when the address is not verified', async () => {
  let resent: unknown;
  server.use(
    http.post('*/v1/auth/login', () => apiError(403, 'email_not_verified', 'Verify your email address first.')),
    http.post('*/v1/auth/verify-email/resend', async ({ request }) => {
      resent = await request.json();
      return HttpResponse.json({ status: 'accepted', message: 'A new link is on its way.' }, { status: 202 });
    }),
  );
  const { user } = renderApp('/login');

  await user.type(await screen.findByLabelText(/email/i), 'ada@example.com');
  await user.type(screen.getByLabelText(/^password/i), 'correct horse battery');
  await user.click(screen.getByRole('button', { name: 'Sign in' }));
  await user.click(await screen.findByRole('button', { name: /send a new verification link/i }));

  expect(await screen.findByText('A new link is on its way.')).toBeInTheDocument();
  expect(resent).toEqual({ email: 'ada@example.com' });
  // No mail server here (the default handlers): the link is in the local outbox, and the page says so.
  expect(await screen.findByRole('note', { name: 'Where the message went' })).toHaveTextContent('written to the local outbox');
});

it('does not follow a redirect to another site', async () => {
  server.use(http.get('*/v1/me', () => apiError(401, 'unauthenticated', 'Sign in.')));
  const { router } = renderApp('/login?redirect=https%3A%2F%2Fevil.example');
  await screen.findByRole('heading', { name: 'Sign in' });
  expect(router.state.location.search).toEqual({});
});
