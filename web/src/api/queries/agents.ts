/** Agents, their immutable versions, diffs, prompt previews and webhooks. */
import { infiniteQueryOptions, keepPreviousData, queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../client';
import type { AgentCreate, AgentUpdate, AgentVisibility, RenderDraftIn, RenderIn } from '../types';

export interface AgentFilters {
  q?: string;
  visibility?: AgentVisibility;
}

export const agentKeys = {
  all: ['agents'] as const,
  lists: () => [...agentKeys.all, 'list'] as const,
  list: (filters: AgentFilters) => [...agentKeys.lists(), filters] as const,
  details: () => [...agentKeys.all, 'detail'] as const,
  detail: (id: string) => [...agentKeys.details(), id] as const,
  versions: (id: string) => [...agentKeys.detail(id), 'versions'] as const,
  version: (id: string, version: number) => [...agentKeys.versions(id), version] as const,
  diff: (id: string, from: number, to: number) => [...agentKeys.detail(id), 'diff', { from, to }] as const,
  render: (id: string, body: RenderIn) => [...agentKeys.detail(id), 'render', body] as const,
  /** The prompt of templates not saved yet (the editor's live preview), by the exact body sent. */
  renderDraft: (body: RenderDraftIn) => [...agentKeys.all, 'render-draft', body] as const,
  webhooks: (id: string) => [...agentKeys.detail(id), 'webhooks'] as const,
  /** The first page of agents, for a count. */
  count: (limit: number) => [...agentKeys.all, 'count', limit] as const,
};

const PAGE = 50;

export const agentQueries = {
  count: (limit = 200) =>
    queryOptions({
      queryKey: agentKeys.count(limit),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/agents', { params: { query: { limit } }, signal })),
    }),
  list: (filters: AgentFilters = {}) =>
    infiniteQueryOptions({
      queryKey: agentKeys.list(filters),
      queryFn: ({ pageParam, signal }) =>
        unwrap(
          api.GET('/v1/agents', {
            params: { query: { q: filters.q || undefined, visibility: filters.visibility, limit: PAGE, cursor: pageParam } },
            signal,
          }),
        ),
      initialPageParam: undefined as string | undefined,
      getNextPageParam: (page) => page.next_cursor ?? undefined,
      placeholderData: keepPreviousData,
    }),
  detail: (id: string) =>
    queryOptions({
      queryKey: agentKeys.detail(id),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/agents/{agent_id}', { params: { path: { agent_id: id } }, signal })),
    }),
  versions: (id: string) =>
    infiniteQueryOptions({
      queryKey: agentKeys.versions(id),
      queryFn: ({ pageParam, signal }) =>
        unwrap(
          api.GET('/v1/agents/{agent_id}/versions', {
            params: { path: { agent_id: id }, query: { limit: PAGE, cursor: pageParam } },
            signal,
          }),
        ),
      initialPageParam: undefined as number | undefined,
      getNextPageParam: (page) => (page.next_cursor ? Number(page.next_cursor) : undefined),
    }),
  version: (id: string, version: number) =>
    queryOptions({
      queryKey: agentKeys.version(id, version),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/agents/{agent_id}/versions/{version}', { params: { path: { agent_id: id, version } }, signal })),
      staleTime: Infinity, // versions are immutable
    }),
  diff: (id: string, from: number, to: number) =>
    queryOptions({
      queryKey: agentKeys.diff(id, from, to),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/agents/{agent_id}/diff', { params: { path: { agent_id: id }, query: { from, to } }, signal })),
      staleTime: Infinity,
    }),
  render: (id: string, body: RenderIn) =>
    queryOptions({
      queryKey: agentKeys.render(id, body),
      queryFn: ({ signal }) =>
        unwrap(api.POST('/v1/agents/{agent_id}/render', { params: { path: { agent_id: id } }, body, signal })),
      retry: false,
      placeholderData: keepPreviousData,
    }),
  /**
   * Renders unsaved templates (`POST /v1/agents/render`). A POST, but it changes nothing: cached by body, so
   * going back to an earlier state is instant. The signal is consumed, so when the body (key) changes while a
   * request is in flight, the stale request is aborted.
   */
  renderDraft: (body: RenderDraftIn) =>
    queryOptions({
      queryKey: agentKeys.renderDraft(body),
      queryFn: ({ signal }) => unwrap(api.POST('/v1/agents/render', { body, signal })),
      retry: false,
      staleTime: Infinity,
      placeholderData: keepPreviousData,
    }),
  webhooks: (id: string) =>
    queryOptions({
      queryKey: agentKeys.webhooks(id),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/agents/{agent_id}/webhooks', { params: { path: { agent_id: id } }, signal })),
    }),
};

export function useCreateAgent() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: AgentCreate) => unwrap(api.POST('/v1/agents', { body })),
    onSuccess: (agent) => {
      queryClient.setQueryData(agentKeys.detail(agent.id), agent);
      return queryClient.invalidateQueries({ queryKey: agentKeys.lists() });
    },
  });
}

export function useUpdateAgent(id: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: AgentUpdate) =>
      unwrap(api.PATCH('/v1/agents/{agent_id}', { params: { path: { agent_id: id } }, body })),
    onSuccess: (agent) => {
      queryClient.setQueryData(agentKeys.detail(id), agent);
      return Promise.all([
        queryClient.invalidateQueries({ queryKey: agentKeys.versions(id) }),
        queryClient.invalidateQueries({ queryKey: agentKeys.lists() }),
      ]);
    },
  });
}

export function useDeleteAgent() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE('/v1/agents/{agent_id}', { params: { path: { agent_id: id } } })),
    onSuccess: (_data, id) => {
      queryClient.removeQueries({ queryKey: agentKeys.detail(id) });
      return queryClient.invalidateQueries({ queryKey: agentKeys.lists() });
    },
  });
}

export function useRollbackAgent(id: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (version: number) =>
      unwrap(api.POST('/v1/agents/{agent_id}/rollback', { params: { path: { agent_id: id } }, body: { version } })),
    onSuccess: (agent) => {
      queryClient.setQueryData(agentKeys.detail(id), agent);
      return Promise.all([
        queryClient.invalidateQueries({ queryKey: agentKeys.versions(id) }),
        queryClient.invalidateQueries({ queryKey: agentKeys.lists() }),
      ]);
    },
  });
}
