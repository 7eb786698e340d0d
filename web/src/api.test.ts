import { describe, expect, it, vi } from 'vitest';
import { ApiError, fieldErrors, getReadiness, postSetup, request } from './api';

const jsonResponse = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

describe('request', () => {
  it('parses the error envelope into an ApiError', async () => {
    const details = [{ loc: ['body', 'password'], message: 'String should have at least 12 characters' }];
    const fetchMock = vi.fn(async () =>
      jsonResponse(422, { error: { code: 'validation_error', message: 'Invalid request', details } }),
    );
    vi.stubGlobal('fetch', fetchMock);

    const error = await postSetup({ token: 't', email: 'a@b.c', password: 'x', organization_name: 'Org' }).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 422, code: 'validation_error', message: 'Invalid request', details });
    expect(fieldErrors((error as ApiError).details)).toEqual({
      password: 'String should have at least 12 characters',
    });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/v1/setup');
    expect(init.method).toBe('POST');
    expect(new Headers(init.headers).get('Content-Type')).toBe('application/json');
  });

  it('reports network failures and non-envelope errors as ApiError', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValueOnce(new TypeError('Failed to fetch')));
    await expect(request('/healthz')).rejects.toMatchObject({ status: 0, code: 'network_error' });

    vi.stubGlobal('fetch', vi.fn(async () => new Response('<h1>Bad gateway</h1>', { status: 502 })));
    await expect(request('/healthz')).rejects.toMatchObject({ status: 502, code: 'http_error' });
  });

  it('returns the checks of a 503 not_ready readiness answer', async () => {
    const checks = { database: { status: 'ok', latency_ms: 1.2 }, redis: { status: 'error' } };
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        jsonResponse(503, { error: { code: 'not_ready', message: 'Not ready', details: { checks } } }),
      ),
    );

    await expect(getReadiness()).resolves.toEqual({ status: 'not_ready', checks });
  });
});
