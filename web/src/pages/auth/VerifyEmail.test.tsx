import { screen, waitFor } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

it('verifies the address from the mailed link once, and drops the token from the address', async () => {
  const tokens: unknown[] = [];
  server.use(
    http.post('*/v1/auth/verify-email', async ({ request }) => {
      tokens.push(await request.json());
      return HttpResponse.json({ status: 'accepted', message: 'Your address is verified. You can sign in now.' });
    }),
  );
  const { router } = renderApp('/verify-email?token=tok-1');

  expect(await screen.findByRole('heading', { name: 'Email verified' })).toBeInTheDocument();
  expect(screen.getByRole('link', { name: 'Sign in' })).toHaveAttribute('href', '/login');
  await waitFor(() => expect(router.state.location.search).toEqual({}));
  expect(tokens).toEqual([{ token: 'tok-1' }]);
});

it('offers a new link when the token is spent or expired', async () => {
  let resent: unknown;
  server.use(
    http.post('*/v1/auth/verify-email', () => apiError(400, 'invalid_token', 'The link has expired or was used already.')),
    http.post('*/v1/auth/verify-email/resend', async ({ request }) => {
      resent = await request.json();
      return HttpResponse.json({ status: 'accepted', message: 'If the address has an unverified account, a new link is on its way.' }, { status: 202 });
    }),
  );
  const { user } = renderApp('/verify-email?token=old');

  expect(await screen.findByRole('heading', { name: 'This link does not work' })).toBeInTheDocument();
  expect(screen.getByRole('alert')).toHaveTextContent('The link has expired or was used already.');
  await fill(user, screen.getByLabelText(/^email/i), 'ada@example.com');
  await user.click(screen.getByRole('button', { name: 'Send a new link' }));
  expect(await screen.findByRole('status')).toHaveTextContent('a new link is on its way');
  expect(resent).toEqual({ email: 'ada@example.com' });
  // No mail server here (the default handlers): the link is in the local outbox, and the page says so.
  expect(await screen.findByRole('note', { name: 'Where the message went' })).toHaveTextContent('written to the local outbox');
});
