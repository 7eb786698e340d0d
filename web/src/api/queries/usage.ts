/** Metered LLM usage per day, and queue health (the organisation's tasks by state, counted now). */
import { queryOptions } from '@tanstack/react-query';
import { api, unwrap } from '../client';

export const usageKeys = {
  all: ['usage'] as const,
  daily: (days: number, agentId?: string) => [...usageKeys.all, 'daily', { days, agentId }] as const,
};

export const queueKeys = {
  all: ['queues'] as const,
  stats: () => [...queueKeys.all, 'stats'] as const,
};

export const usageQueries = {
  /** The last `days` UTC days, oldest first, zeros included (own tasks; all with tasks:read_all). */
  daily: (days = 14, agentId?: string) =>
    queryOptions({
      queryKey: usageKeys.daily(days, agentId),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/usage/daily', { params: { query: { days, agent_id: agentId } }, signal })),
      staleTime: 60_000,
    }),
};

export const queueQueries = {
  stats: () =>
    queryOptions({
      queryKey: queueKeys.stats(),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/queues/stats', { signal })),
      refetchInterval: 10_000,
    }),
};
