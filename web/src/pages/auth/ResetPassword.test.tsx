import { screen, waitFor } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

it('requests a reset link without revealing whether the account exists', async () => {
  let body: unknown;
  server.use(
    http.post('*/v1/auth/password-reset/request', async ({ request }) => {
      body = await request.json();
      return HttpResponse.json({ status: 'accepted', message: 'If the address has an account, a reset link is on its way.' }, { status: 202 });
    }),
  );
  const { user } = renderApp('/reset-password');
  await fill(user, await screen.findByLabelText(/^email/i), 'ada@example.com');
  await user.click(screen.getByRole('button', { name: 'Send the link' }));
  expect(await screen.findByRole('status')).toHaveTextContent('If the address has an account, a reset link is on its way.');
  expect(body).toEqual({ email: 'ada@example.com' });
  // No mail server here (the default handlers): the link is in the local outbox, and the page says so.
  expect(await screen.findByRole('note', { name: 'Where the message went' })).toHaveTextContent('agentic mail list');
});

it('sets a new password from the mailed link, mapping the policy error onto the field', async () => {
  const bodies: unknown[] = [];
  server.use(
    http.post('*/v1/auth/password-reset/confirm', async ({ request }) => {
      const body = (await request.json()) as { new_password: string };
      bodies.push(body);
      if (body.new_password.startsWith('ada@')) {
        return apiError(422, 'invalid_input', 'The password must not contain the email address.', [{ loc: ['body', 'password'], message: 'contains the email' }]);
      }
      return HttpResponse.json({ status: 'accepted', message: 'Your password is changed and every session has ended. Sign in again.' });
    }),
  );
  const { user, router } = renderApp('/reset-password?token=reset-1');

  await fill(user, await screen.findByLabelText(/^new password/i), 'ada@example.com!!');
  await fill(user, screen.getByLabelText(/^confirm new password/i), 'ada@example.com!!');
  await user.click(screen.getByRole('button', { name: 'Change password' }));
  expect(await screen.findByLabelText(/^new password/i)).toHaveAccessibleDescription('contains the email');

  await fill(user, screen.getByLabelText(/^new password/i), 'a much better passphrase');
  await fill(user, screen.getByLabelText(/^confirm new password/i), 'a much better passphrase');
  await user.click(screen.getByRole('button', { name: 'Change password' }));
  expect(await screen.findByRole('heading', { name: 'Password changed' })).toBeInTheDocument();
  await waitFor(() => expect(router.state.location.search).toEqual({}));
  expect(bodies.at(-1)).toEqual({ token: 'reset-1', new_password: 'a much better passphrase' });
});
