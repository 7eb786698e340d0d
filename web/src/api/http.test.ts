import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, it } from 'vitest';
import { apiError } from '../test/handlers';
import { server } from '../test/server';
import { api, unwrap } from './client';
import { ApiError, fieldErrors } from './errors';
import { setCsrfToken, setOrgId } from './session';

beforeEach(() => setCsrfToken(null));

describe('authFetch', () => {
  it('sends the organisation and, on unsafe requests, the CSRF token from the cookie', async () => {
    document.cookie = 'agentic_csrf=csrf-from-cookie; path=/';
    setOrgId('org-2');
    const seen: Record<string, string | null>[] = [];
    server.use(
      http.all('*/v1/api-keys', ({ request }) => {
        seen.push({ org: request.headers.get('x-org-id'), csrf: request.headers.get('x-csrf-token') });
        return request.method === 'GET' ? HttpResponse.json([]) : HttpResponse.json({}, { status: 201 });
      }),
    );

    await unwrap(api.GET('/v1/api-keys'));
    await api.POST('/v1/api-keys', { body: { name: 'k', scopes: ['tasks:run'] } });

    expect(seen).toEqual([
      { org: 'org-2', csrf: null },
      { org: 'org-2', csrf: 'csrf-from-cookie' },
    ]);
  });

  it('refreshes an expired session once for concurrent requests, then replays them', async () => {
    let refreshes = 0;
    let valid = false;
    server.use(
      http.post('*/v1/auth/refresh', async () => {
        refreshes += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
        valid = true;
        return HttpResponse.json({ csrf_token: 'csrf-2' });
      }),
      http.get('*/v1/me', () => (valid ? HttpResponse.json({ id: 'me' }) : apiError(401, 'token_expired', 'Expired.'))),
      http.post('*/v1/orgs', async ({ request }) =>
        valid ? HttpResponse.json({ body: await request.json(), csrf: request.headers.get('x-csrf-token') }) : apiError(401, 'token_expired', 'Expired.'),
      ),
    );

    const [me, org] = await Promise.all([
      unwrap(api.GET('/v1/me')),
      unwrap(api.POST('/v1/orgs', { body: { name: 'Replayed' } })),
    ]);

    expect(refreshes).toBe(1);
    expect(me).toEqual({ id: 'me' });
    // The replay carries the original body and the new CSRF token.
    expect(org).toEqual({ body: { name: 'Replayed' }, csrf: 'csrf-2' });
  });

  it('skips its own refresh when another tab refreshed after the request was sent', async () => {
    let refreshes = 0;
    let calls = 0;
    server.use(
      http.post('*/v1/auth/refresh', () => {
        refreshes += 1;
        return HttpResponse.json({ csrf_token: 'x' });
      }),
      http.get('*/v1/me', () => {
        calls += 1;
        if (calls === 1) {
          // Meanwhile another tab rotated the tokens (it records when in shared storage).
          window.localStorage.setItem('agentic.auth.refreshedAt', String(Date.now() + 1));
          return apiError(401, 'token_expired', 'Expired.');
        }
        return HttpResponse.json({ id: 'me' });
      }),
    );

    await expect(unwrap(api.GET('/v1/me'))).resolves.toEqual({ id: 'me' });
    expect(refreshes).toBe(0);
  });

  it('gives up when the refresh is refused, returning the 401', async () => {
    server.use(
      http.post('*/v1/auth/refresh', () => apiError(401, 'unauthenticated', 'The session has ended; sign in again.')),
      http.get('*/v1/me', () => apiError(401, 'token_expired', 'Expired.')),
    );
    await expect(unwrap(api.GET('/v1/me'))).rejects.toMatchObject({ status: 401, code: 'token_expired' });
  });

  it('turns network failures and non-envelope errors into ApiError', async () => {
    server.use(http.get('*/v1/me', () => HttpResponse.error()));
    await expect(unwrap(api.GET('/v1/me'))).rejects.toMatchObject({ status: 0, code: 'network_error' });

    server.use(http.get('*/v1/me', () => new HttpResponse('<h1>Bad gateway</h1>', { status: 502 })));
    const error = await unwrap(api.GET('/v1/me')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 502, code: 'server_error' });
  });
});

describe('fieldErrors', () => {
  it('keys validation messages by field path, without the location root', () => {
    expect(
      fieldErrors([
        { loc: ['body', 'email'], message: 'Bad email.' },
        { loc: ['body', 'model', 'fallbacks', 0, 'name'], message: 'Required.' },
        { loc: ['body', 'email'], message: 'Ignored: first wins.' },
        { loc: ['query', 'cursor'] },
        'junk',
      ]),
    ).toEqual({ email: 'Bad email.', 'model.fallbacks.0.name': 'Required.', cursor: 'This value is invalid.' });
  });
});
