/** The API's error envelope (`{"error": {"code", "message", "details"}}`) as a typed exception. */

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

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Turns a parsed response body into an ApiError, using the `{"error": {...}}` envelope when present. */
export function toApiError(status: number, body: unknown): ApiError {
  const error = isRecord(body) ? body.error : undefined;
  if (isRecord(error) && typeof error.code === 'string' && typeof error.message === 'string') {
    return new ApiError(status, error.code, error.message, error.details ?? null);
  }
  if (status >= 500) {
    return new ApiError(status, 'server_error', `The server failed to answer (HTTP ${status}). Try again shortly.`);
  }
  return new ApiError(status, 'http_error', `The server answered with HTTP ${status}.`);
}

const LOCATION_ROOTS = new Set(['body', 'query', 'path', 'header']);

/**
 * Maps validation details (`[{loc: [...], message}]`) to messages keyed by field path.
 *
 * The leading `body`/`query` entry is dropped and the rest joined with dots, so `["body", "email"]` gives
 * `email` and `["body", "model", "fallbacks", 0, "name"]` gives `model.fallbacks.0.name`. The first message
 * for a field wins.
 */
export function fieldErrors(details: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  if (!Array.isArray(details)) return result;
  for (const item of details) {
    if (!isRecord(item) || !Array.isArray(item.loc)) continue;
    const loc = item.loc.filter((part): part is string | number => typeof part === 'string' || typeof part === 'number');
    if (loc.length > 0 && typeof loc[0] === 'string' && LOCATION_ROOTS.has(loc[0])) loc.shift();
    if (loc.length === 0) continue;
    const key = loc.join('.');
    const message = typeof item.message === 'string' && item.message ? item.message : 'This value is invalid.';
    if (!(key in result)) result[key] = message;
  }
  return result;
}

/** A human sentence for any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong. Please try again.';
}

export const isApiError = (error: unknown, status?: number, code?: string): error is ApiError =>
  error instanceof ApiError && (status === undefined || error.status === status) && (code === undefined || error.code === code);
