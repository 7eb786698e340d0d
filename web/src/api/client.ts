/**
 * The typed API client: `openapi-fetch` over the types generated from `openapi.json`
 * (`src/client/schema.d.ts`, regenerated with `npm run gen:api`, never edited by hand).
 */
import createClient from 'openapi-fetch';
import type { paths } from '../client/schema';
import { toApiError } from './errors';
import { authFetch } from './http';

export const api = createClient<paths>({
  // Absolute, so the same code runs in the browser and in tests (Node's fetch needs a full URL).
  baseUrl: typeof window === 'undefined' ? '' : window.location.origin,
  fetch: authFetch,
});

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The response's data, or the API's error envelope thrown as an `ApiError`. */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toApiError(response.status, error);
  return data as T;
}
