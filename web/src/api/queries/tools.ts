/** The built-in tools this server offers agents (`GET /v1/tools`): descriptions, config schemas, availability. */
import { queryOptions } from '@tanstack/react-query';
import { api, unwrap } from '../client';

export const toolKeys = {
  all: ['tools'] as const,
  list: () => [...toolKeys.all, 'list'] as const,
};

export const toolQueries = {
  list: () =>
    queryOptions({
      queryKey: toolKeys.list(),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/tools', { signal })),
      // What the server can run changes with its deployment, not while someone edits an agent.
      staleTime: 5 * 60_000,
    }),
};
