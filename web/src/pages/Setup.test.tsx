// @vitest-environment jsdom
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { expect, it, vi } from 'vitest';
import { Setup } from './Setup';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function type(input: HTMLInputElement, value: string) {
  // React tracks the value property; set it through the native setter so onChange fires.
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')?.set?.call(input, value);
  input.dispatchEvent(new Event('input', { bubbles: true }));
}

it('shows the server message and per-field errors for a rejected setup', async () => {
  window.history.replaceState(null, '', '/setup?token=secret-token');
  const fetchMock = vi.fn(
    async () =>
      new Response(
        JSON.stringify({
          error: {
            code: 'validation_error',
            message: 'The request is invalid.',
            details: [{ loc: ['body', 'email'], message: 'Email domain is not allowed.' }],
          },
        }),
        { status: 422 },
      ),
  );
  vi.stubGlobal('fetch', fetchMock);

  const container = document.createElement('div');
  document.body.append(container);
  const root = createRoot(container);
  await act(async () => root.render(<Setup />));

  const field = (label: string) => {
    const labelEl = [...container.querySelectorAll('label')].find((l) => l.textContent === label);
    return container.querySelector<HTMLInputElement>(`#${labelEl?.htmlFor}`)!;
  };
  await act(async () => {
    type(field('Organisation name'), 'Acme');
    type(field('Admin email'), 'admin@example.com');
    type(field('Password'), 'correct horse battery');
    type(field('Confirm password'), 'correct horse battery');
  });
  await act(async () => container.querySelector('button')!.click());

  expect(fetchMock).toHaveBeenCalledOnce();
  expect(JSON.parse((fetchMock.mock.calls[0] as unknown as [string, RequestInit])[1].body as string)).toEqual({
    token: 'secret-token',
    email: 'admin@example.com',
    password: 'correct horse battery',
    organization_name: 'Acme',
  });
  expect(container.querySelector('[role="alert"]')?.textContent).toBe('The request is invalid.');
  const email = field('Admin email');
  expect(email.getAttribute('aria-invalid')).toBe('true');
  expect(document.getElementById(email.getAttribute('aria-describedby')!)?.textContent).toBe(
    'Email domain is not allowed.',
  );

  act(() => root.unmount());
  container.remove();
});
