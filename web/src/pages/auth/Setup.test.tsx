import { screen, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { expect, it } from 'vitest';
import { apiError } from '../../test/handlers';
import { renderApp } from '../../test/render';
import { server } from '../../test/server';

it('shows the server message and per-field errors for a rejected setup', async () => {
  let body: unknown;
  server.use(
    http.post('*/v1/setup', async ({ request }) => {
      body = await request.json();
      return apiError(422, 'validation_error', 'The request is invalid.', [
        { loc: ['body', 'email'], message: 'Email domain is not allowed.' },
      ]);
    }),
  );
  const { user } = renderApp('/setup?token=secret-token');

  await user.type(await screen.findByLabelText(/organisation name/i), 'Acme');
  await user.type(screen.getByLabelText(/admin email/i), 'admin@example.com');
  await user.type(screen.getByLabelText(/^password/i), 'correct horse battery');
  await user.type(screen.getByLabelText(/confirm password/i), 'correct horse battery');
  await user.click(screen.getByRole('button', { name: /create admin account/i }));

  expect(await screen.findByRole('alert')).toHaveTextContent('The request is invalid.');
  expect(body).toEqual({
    token: 'secret-token',
    email: 'admin@example.com',
    password: 'correct horse battery',
    organization_name: 'Acme',
  });
  const email = screen.getByLabelText(/admin email/i);
  expect(email).toHaveAttribute('aria-invalid', 'true');
  expect(email).toHaveAccessibleDescription('Email domain is not allowed.');
});

it('validates before sending, focuses the first wrong field, then creates the admin', async () => {
  let calls = 0;
  server.use(
    http.post('*/v1/setup', () => {
      calls += 1;
      return HttpResponse.json({ user_id: 'u', organization_id: 'o', email: 'admin@example.com' }, { status: 201 });
    }),
  );
  const { user, router } = renderApp('/setup?token=secret-token');

  await user.click(await screen.findByRole('button', { name: /create admin account/i }));
  expect(calls).toBe(0);
  expect(screen.getByRole('alert')).toHaveTextContent(/correct the highlighted fields/i);
  await expect.poll(() => document.activeElement).toBe(screen.getByLabelText(/organisation name/i));
  expect(screen.getByLabelText(/^password/i)).toHaveAccessibleDescription('Use at least 12 characters.');

  await user.type(screen.getByLabelText(/organisation name/i), 'Acme');
  await user.type(screen.getByLabelText(/admin email/i), 'admin@example.com');
  await user.type(screen.getByLabelText(/^password/i), 'correct horse battery');
  await user.type(screen.getByLabelText(/confirm password/i), 'correct horse battery');
  await user.click(screen.getByRole('button', { name: /create admin account/i }));

  const status = await screen.findByRole('status');
  expect(within(status).getByText('admin@example.com')).toBeInTheDocument();
  expect(calls).toBe(1);
  // The single-use token leaves the address bar.
  expect(router.state.location.search).toEqual({});
  expect(screen.getByRole('link', { name: /sign in/i })).toHaveAttribute('href', '/login');
});

it('explains where the setup link comes from when opened without a token', async () => {
  renderApp('/setup');
  expect(await screen.findByText(/one-time setup link/i)).toBeInTheDocument();
  expect(screen.queryByRole('form')).not.toBeInTheDocument();
});
