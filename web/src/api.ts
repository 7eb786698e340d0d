/** Minimal typed client for the Agentic HTTP API. */

export interface SystemInfo {
  name: string;
  version: string;
  environment: string;
  database_backend: string;
  redis_configured: boolean;
  needs_setup: boolean;
}

export interface CheckResult {
  status: string;
  latency_ms?: number;
  [extra: string]: unknown;
}

export interface Readiness {
  status: string;
  checks: Record<string, CheckResult>;
}

export interface SetupRequest {
  token: string;
  email: string;
  password: string;
  organization_name: string;
}

export interface SetupResponse {
  user_id: string;
  organization_id: string;
  email: string;
}

/** An error response from the API, or a failure to reach it (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details: unknown = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Turns a parsed response body into an ApiError, using the `{"error": {...}}` envelope when present. */
export function toApiError(status: number, body: unknown): ApiError {
  const error = isRecord(body) ? body.error : undefined;
  if (isRecord(error) && typeof error.code === 'string' && typeof error.message === 'string') {
    return new ApiError(status, error.code, error.message, error.details ?? null);
  }
  return new ApiError(status, 'http_error', `The server answered with HTTP ${status}.`);
}

/** Maps validation details (`[{loc: [...], message}]`) to messages keyed by the last `loc` entry. */
export function fieldErrors(details: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  if (!Array.isArray(details)) return result;
  for (const item of details) {
    if (!isRecord(item) || !Array.isArray(item.loc) || typeof item.message !== 'string') continue;
    const field = item.loc.at(-1);
    if (typeof field === 'string' && !(field in result)) result[field] = item.message;
  }
  return result;
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('Accept', 'application/json');
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');

  let response: Response;
  let text: string;
  try {
    response = await fetch(path, { ...init, headers });
    text = await response.text();
  } catch (cause) {
    if (init.signal?.aborted) throw cause;
    throw new ApiError(0, 'network_error', 'Could not reach the server. Check that the API is running.', {
      cause: String(cause),
    });
  }

  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      if (response.ok) {
        throw new ApiError(response.status, 'invalid_response', 'The server sent a response that is not JSON.');
      }
    }
  }
  if (!response.ok) throw toApiError(response.status, body);
  return body as T;
}

export const getHealth = (signal?: AbortSignal) => request<{ status: string }>('/healthz', { signal });

export const getSystemInfo = (signal?: AbortSignal) => request<SystemInfo>('/v1/system/info', { signal });

/** Readiness; a 503 "not_ready" answer still carries the individual checks, so it is returned, not thrown. */
export async function getReadiness(signal?: AbortSignal): Promise<Readiness> {
  try {
    return await request<Readiness>('/readyz', { signal });
  } catch (error) {
    const checks = error instanceof ApiError && isRecord(error.details) ? error.details.checks : undefined;
    if (error instanceof ApiError && error.status === 503 && isRecord(checks)) {
      return { status: error.code, checks: checks as Record<string, CheckResult> };
    }
    throw error;
  }
}

export const postSetup = (payload: SetupRequest) =>
  request<SetupResponse>('/v1/setup', { method: 'POST', body: JSON.stringify(payload) });
