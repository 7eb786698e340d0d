import { screen } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { makeSystemInfo } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

it('checks the form, maps the password policy error, then asks to check the inbox', async () => {
  const bodies: unknown[] = [];
  server.use(
    http.post('*/v1/auth/signup', async ({ request }) => {
      const body = (await request.json()) as { password: string };
      bodies.push(body);
      if (body.password === 'password1234') {
        return apiError(422, 'invalid_input', 'This password is too common.', [{ loc: ['body', 'password'], message: 'too common' }]);
      }
      return HttpResponse.json({ status: 'accepted', message: 'Check your inbox for a link to verify your address.' }, { status: 202 });
    }),
  );
  const { user } = renderApp('/signup');

  await fill(user, await screen.findByLabelText(/^email/i), 'not-an-email');
  await fill(user, screen.getByLabelText(/^password/i), 'short');
  await fill(user, screen.getByLabelText(/^confirm password/i), 'different');
  await user.click(screen.getByRole('button', { name: 'Create account' }));
  expect(bodies).toHaveLength(0);
  expect(screen.getByLabelText(/^email/i)).toHaveAccessibleDescription('Enter a valid email address.');
  expect(screen.getByLabelText(/^password/i)).toHaveAccessibleDescription('Use at least 12 characters.');
  expect(screen.getByLabelText(/^confirm password/i)).toHaveAccessibleDescription('The passwords do not match.');

  await fill(user, screen.getByLabelText(/^email/i), 'cleo@example.com');
  await fill(user, screen.getByLabelText(/^password/i), 'password1234');
  await fill(user, screen.getByLabelText(/^confirm password/i), 'password1234');
  await user.click(screen.getByRole('button', { name: 'Create account' }));
  expect(await screen.findByRole('alert')).toHaveTextContent('This password is too common.');
  expect(screen.getByLabelText(/^password/i)).toHaveAccessibleDescription('too common');

  await fill(user, screen.getByLabelText(/^password/i), 'a much better passphrase');
  await fill(user, screen.getByLabelText(/^confirm password/i), 'a much better passphrase');
  await user.click(screen.getByRole('button', { name: 'Create account' }));
  expect(await screen.findByRole('heading', { name: 'Check your inbox' })).toBeInTheDocument();
  expect(bodies.at(-1)).toEqual({ email: 'cleo@example.com', password: 'a much better passphrase', display_name: null, organization_name: null });
});

describe('where the verification mail went', () => {
  const signUp = async () => {
    server.use(
      http.post('*/v1/auth/signup', () =>
        HttpResponse.json({ status: 'accepted', message: 'Check your inbox for a link to verify your address.' }, { status: 202 }),
      ),
    );
    const { user } = renderApp('/signup');
    await fill(user, await screen.findByLabelText(/^email/i), 'cleo@example.com');
    await fill(user, screen.getByLabelText(/^password/i), 'a much better passphrase');
    await fill(user, screen.getByLabelText(/^confirm password/i), 'a much better passphrase');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByRole('heading', { name: 'Check your inbox' })).toBeInTheDocument();
  };

  it('says the message is in the local outbox when the server has no mail server', async () => {
    await signUp();
    const note = await screen.findByRole('note', { name: 'Where the message went' });
    expect(note).toHaveTextContent('This server has no mail server configured: the message was written to the local outbox');
    expect(note).toHaveTextContent('agentic mail list');
  });

  it('says nothing more when the server sends mail', async () => {
    server.use(http.get('*/v1/system/info', () => HttpResponse.json(makeSystemInfo({ mail_delivery: 'smtp' }))));
    await signUp();
    await screen.findByText(/The link in it verifies/);
    expect(screen.queryByRole('note', { name: 'Where the message went' })).not.toBeInTheDocument();
  });
});
