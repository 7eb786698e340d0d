/**
 * The one fetch every API call goes through: adds the organisation and CSRF headers, refreshes an expired
 * session once and replays the request, and turns network failures into `ApiError(0, 'network_error')`.
 */
import { ApiError, isRecord } from './errors';
import { CSRF_HEADER, ORG_HEADER, getCsrfToken, getOrgId, refreshSession } from './session';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
// Requests that must never trigger a refresh themselves (they are how one signs in or refreshes).
const NO_REFRESH = /\/v1\/auth\/(login|refresh|signup|verify-email|password-reset)/;

function prepare(request: Request): Request {
  const headers = new Headers(request.headers);
  if (!headers.has('Accept')) headers.set('Accept', 'application/json');
  const org = getOrgId();
  if (org && !headers.has(ORG_HEADER)) headers.set(ORG_HEADER, org);
  if (!SAFE_METHODS.has(request.method.toUpperCase())) {
    const csrf = getCsrfToken();
    if (csrf) headers.set(CSRF_HEADER, csrf);
  }
  return new Request(request, { headers });
}

async function send(request: Request): Promise<Response> {
  try {
    return await fetch(prepare(request));
  } catch (cause) {
    if (request.signal.aborted) throw cause;
    throw new ApiError(0, 'network_error', 'Could not reach the server. Check your connection and try again.', {
      cause: String(cause),
    });
  }
}

async function isExpiredToken(response: Response): Promise<boolean> {
  try {
    const body: unknown = await response.clone().json();
    return isRecord(body) && isRecord(body.error) && body.error.code === 'token_expired';
  } catch {
    return false;
  }
}

/** `fetch` for the API: the generated client and the event stream both use it. */
export async function authFetch(input: Request): Promise<Response> {
  const replay = input.clone(); // the body can be read once; keep a copy in case we must send it again
  const sentAt = Date.now();
  const response = await send(input);
  if (response.status !== 401 || NO_REFRESH.test(new URL(input.url).pathname)) return response;
  if (!(await isExpiredToken(response))) return response;
  if (!(await refreshSession(sentAt))) return response;
  return send(replay);
}
