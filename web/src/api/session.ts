/**
 * Browser session plumbing: the organisation requests act in, the CSRF token, and token refresh.
 *
 * The API signs the browser in with cookies: an HttpOnly session cookie (the access token), an HttpOnly
 * refresh cookie scoped to `/v1/auth`, and a readable CSRF cookie whose value must be echoed in
 * `X-CSRF-Token` on unsafe requests. No token is ever kept in script-readable storage. When the access token
 * expires the API answers 401 `token_expired`; the page then rotates the tokens with `POST /v1/auth/refresh`.
 *
 * Refresh tokens are single-use, and a reused one ends the session. Two refreshes racing (two requests in a
 * tab, or two tabs) would therefore sign the user out, so refreshes are serialised: one in-flight promise per
 * tab, and a Web Lock across tabs. Inside the lock a tab first checks whether another tab refreshed after its
 * own request was sent (a timestamp in localStorage, shared by every tab), and if so reuses that refresh.
 */

export const CSRF_COOKIE = 'agentic_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';
export const ORG_HEADER = 'X-Org-Id';

const ORG_STORAGE_KEY = 'agentic.org';
const REFRESHED_AT_KEY = 'agentic.auth.refreshedAt';
const LOCK_NAME = 'agentic.auth.refresh';
const CHANNEL_NAME = 'agentic.auth';

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // disabled storage (privacy mode): fall back to per-tab behaviour
  }
}

// ---- organisation ---------------------------------------------------------------------------------------

/** The organisation the user chose (sent as `X-Org-Id`); null: the API picks their first membership. */
export function getOrgId(): string | null {
  return storage()?.getItem(ORG_STORAGE_KEY) ?? null;
}

export function setOrgId(orgId: string | null): void {
  const store = storage();
  if (!store) return;
  if (orgId) store.setItem(ORG_STORAGE_KEY, orgId);
  else store.removeItem(ORG_STORAGE_KEY);
}

// ---- CSRF -----------------------------------------------------------------------------------------------

let csrfFromResponse: string | null = null;

/** Remember the CSRF token from a login or refresh answer (the cookie carries the same value). */
export function setCsrfToken(token: string | null): void {
  csrfFromResponse = token;
}

export function readCookie(name: string): string | null {
  if (typeof document === 'undefined') return null;
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

/** The cookie is the source of truth (another tab may have signed in again); the last answer is a fallback. */
export function getCsrfToken(): string | null {
  return readCookie(CSRF_COOKIE) ?? csrfFromResponse;
}

// ---- auth events (this tab and the others) --------------------------------------------------------------

export type AuthEvent = 'signed-in' | 'signed-out';
type Listener = (event: AuthEvent) => void;

const listeners = new Set<Listener>();
let channel: BroadcastChannel | null | undefined;

function getChannel(): BroadcastChannel | null {
  if (channel === undefined) {
    channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL_NAME) : null;
    channel?.addEventListener('message', (message: MessageEvent<unknown>) => {
      if (message.data === 'signed-in' || message.data === 'signed-out') {
        for (const listener of listeners) listener(message.data);
      }
    });
  }
  return channel;
}

/** Subscribe to sign-in/sign-out in this tab and in the browser's other tabs. */
export function onAuthEvent(listener: Listener): () => void {
  getChannel();
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Tell this tab's listeners, and the other tabs, that the user signed in or out. */
export function emitAuthEvent(event: AuthEvent): void {
  for (const listener of listeners) listener(event);
  getChannel()?.postMessage(event);
}

// ---- refresh --------------------------------------------------------------------------------------------

let inflight: Promise<boolean> | null = null;

function lastRefreshAt(): number {
  return Number(storage()?.getItem(REFRESHED_AT_KEY) ?? 0) || 0;
}

async function withCrossTabLock<T>(task: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (locks && typeof locks.request === 'function') {
    return locks.request(LOCK_NAME, task);
  }
  return task();
}

/** Origin-absolute URL: `fetch` in tests (Node) cannot resolve a relative one. */
export const apiUrl = (path: string) => `${window.location.origin}${path}`;

/**
 * Rotate the session tokens once, whoever asks. `since` is when the failed request was sent: a refresh by
 * any tab after that moment already produced fresh cookies, so it is not repeated. Resolves true when the
 * session is usable again.
 */
export function refreshSession(since: number): Promise<boolean> {
  if (inflight) return inflight;
  inflight = withCrossTabLock(async () => {
    if (lastRefreshAt() > since) return true;
    let response: Response;
    try {
      const headers = new Headers({ Accept: 'application/json' });
      const csrf = getCsrfToken();
      if (csrf) headers.set(CSRF_HEADER, csrf);
      response = await fetch(apiUrl('/v1/auth/refresh'), { method: 'POST', headers, credentials: 'same-origin' });
    } catch {
      return false;
    }
    if (!response.ok) return false;
    try {
      const body = (await response.json()) as { csrf_token?: unknown };
      if (typeof body.csrf_token === 'string') setCsrfToken(body.csrf_token);
    } catch {
      // the cookies are what matter; a body we cannot read does not undo the refresh
    }
    storage()?.setItem(REFRESHED_AT_KEY, String(Date.now()));
    return true;
  }).finally(() => {
    inflight = null;
  });
  return inflight;
}
