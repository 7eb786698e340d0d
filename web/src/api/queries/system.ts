/** Installation facts and health (public). */
import { queryOptions } from '@tanstack/react-query';
import { api, unwrap } from '../client';

export const systemKeys = {
  all: ['system'] as const,
  info: () => [...systemKeys.all, 'info'] as const,
  setup: () => [...systemKeys.all, 'setup'] as const,
  readiness: () => [...systemKeys.all, 'readiness'] as const,
};

export const systemQueries = {
  info: () =>
    queryOptions({
      queryKey: systemKeys.info(),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/system/info', { signal })),
      staleTime: 5 * 60_000,
    }),
  setup: () =>
    queryOptions({
      queryKey: systemKeys.setup(),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/setup', { signal })),
    }),
  readiness: () =>
    queryOptions({
      queryKey: systemKeys.readiness(),
      // A 503 answer still lists the checks: return it rather than failing the query.
      queryFn: async ({ signal }) => {
        const { data, error, response } = await api.GET('/readyz', { signal });
        if (response.ok && data) return { ready: true, degraded: data.status === 'degraded', checks: data.checks };
        const details = (error as { error?: { details?: { checks?: typeof data } } } | undefined)?.error?.details;
        return {
          ready: false,
          degraded: false,
          checks: (details?.checks ?? {}) as Record<string, { status: string; latency_ms?: number | null; error?: string | null }>,
        };
      },
      refetchInterval: 30_000,
    }),
};
