import { QueryCache, QueryClient } from '@tanstack/react-query';
import { ApiError } from '../api/errors';

export interface QueryClientHooks {
  /** A query answered 401: the session has ended (an expired token was already refreshed by `authFetch`). */
  onUnauthenticated?: () => void;
}

/** Don't retry what cannot get better by waiting: client errors. Server and network errors twice. */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429) return false;
  return failureCount < 2;
}

export function createQueryClient(hooks: QueryClientHooks = {}): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache({
      onError: (error) => {
        if (error instanceof ApiError && error.status === 401) hooks.onUnauthenticated?.();
      },
    }),
    defaultOptions: {
      queries: { retry: shouldRetry, staleTime: 15_000, refetchOnWindowFocus: true },
      mutations: { retry: false },
    },
  });
}
