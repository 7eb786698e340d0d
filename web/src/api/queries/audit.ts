/** The organisation's audit log (admins). */
import { infiniteQueryOptions, keepPreviousData } from '@tanstack/react-query';
import { api, unwrap } from '../client';

export interface AuditFilters {
  action?: string;
  actor_id?: string;
  target_type?: string;
  target_id?: string;
  since?: string;
  until?: string;
}

export const auditKeys = {
  all: ['audit'] as const,
  list: (filters: AuditFilters) => [...auditKeys.all, 'list', filters] as const,
};

export const auditQueries = {
  list: (filters: AuditFilters = {}) =>
    infiniteQueryOptions({
      queryKey: auditKeys.list(filters),
      queryFn: ({ pageParam, signal }) =>
        unwrap(
          api.GET('/v1/audit-events', {
            params: {
              query: {
                action: filters.action || undefined,
                actor_id: filters.actor_id || undefined,
                target_type: filters.target_type || undefined,
                target_id: filters.target_id || undefined,
                since: filters.since || undefined,
                until: filters.until || undefined,
                limit: 50,
                cursor: pageParam,
              },
            },
            signal,
          }),
        ),
      initialPageParam: undefined as string | undefined,
      getNextPageParam: (page) => page.next_cursor ?? undefined,
      placeholderData: keepPreviousData,
    }),
};
