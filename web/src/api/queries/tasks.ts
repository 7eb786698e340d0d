/** Tasks: runs of agents, their steps, attempts, approvals; and the dead-letter queue. */
import { infiniteQueryOptions, keepPreviousData, queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../client';
import type { ApprovalDecision, TaskCreate, TaskRetry, TaskState } from '../types';

export interface TaskFilters {
  state?: TaskState[];
  agent_id?: string;
}

export const TERMINAL_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled', 'dead'];
export const isTerminal = (state: TaskState) => TERMINAL_STATES.includes(state);

export const taskKeys = {
  all: ['tasks'] as const,
  lists: () => [...taskKeys.all, 'list'] as const,
  list: (filters: TaskFilters) => [...taskKeys.lists(), filters] as const,
  details: () => [...taskKeys.all, 'detail'] as const,
  detail: (id: string) => [...taskKeys.details(), id] as const,
  steps: (id: string) => [...taskKeys.detail(id), 'steps'] as const,
  attempts: (id: string) => [...taskKeys.detail(id), 'attempts'] as const,
  approvals: (id: string) => [...taskKeys.detail(id), 'approvals'] as const,
  files: (id: string) => [...taskKeys.detail(id), 'files'] as const,
  /** Recent tasks, counted by state for the dashboard. */
  recent: (limit: number) => [...taskKeys.all, 'recent', limit] as const,
  /** Tasks in one state (the first page), for queue-health counts. */
  count: (state: TaskState, limit: number) => [...taskKeys.all, 'count', state, limit] as const,
};

export const deadLetterKeys = {
  all: ['dead-letters'] as const,
  list: () => [...deadLetterKeys.all, 'list'] as const,
};

const PAGE = 50;

export const taskQueries = {
  list: (filters: TaskFilters = {}) =>
    infiniteQueryOptions({
      queryKey: taskKeys.list(filters),
      queryFn: ({ pageParam, signal }) =>
        unwrap(
          api.GET('/v1/tasks', {
            params: {
              query: {
                state: filters.state?.length ? filters.state : undefined,
                agent_id: filters.agent_id || undefined,
                limit: PAGE,
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
  recent: (limit = 200) =>
    queryOptions({
      queryKey: taskKeys.recent(limit),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/tasks', { params: { query: { limit } }, signal })),
      refetchInterval: 15_000,
    }),
  count: (state: TaskState, limit = 200) =>
    queryOptions({
      queryKey: taskKeys.count(state, limit),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/tasks', { params: { query: { state: [state], limit } }, signal })),
      refetchInterval: 15_000,
    }),
  detail: (id: string) =>
    queryOptions({
      queryKey: taskKeys.detail(id),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/tasks/{task_id}', { params: { path: { task_id: id } }, signal })),
    }),
  steps: (id: string) =>
    queryOptions({
      queryKey: taskKeys.steps(id),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/tasks/{task_id}/steps', { params: { path: { task_id: id } }, signal })),
    }),
  attempts: (id: string) =>
    queryOptions({
      queryKey: taskKeys.attempts(id),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/tasks/{task_id}/attempts', { params: { path: { task_id: id } }, signal })),
    }),
  files: (id: string) =>
    queryOptions({
      queryKey: taskKeys.files(id),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/tasks/{task_id}/files', { params: { path: { task_id: id } }, signal })),
    }),
  approvals: (id: string) =>
    queryOptions({
      queryKey: taskKeys.approvals(id),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/tasks/{task_id}/approvals', { params: { path: { task_id: id }, query: { limit: 200 } }, signal })),
    }),
};

export const deadLetterQueries = {
  list: () =>
    infiniteQueryOptions({
      queryKey: deadLetterKeys.list(),
      queryFn: ({ pageParam, signal }) =>
        unwrap(api.GET('/v1/dead-letters', { params: { query: { limit: PAGE, cursor: pageParam } }, signal })),
      initialPageParam: undefined as string | undefined,
      getNextPageParam: (page) => page.next_cursor ?? undefined,
    }),
};

export function useCreateTask() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ body, idempotencyKey }: { body: TaskCreate; idempotencyKey?: string }) =>
      unwrap(
        api.POST('/v1/tasks', {
          body,
          params: { header: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} },
        }),
      ),
    onSuccess: (task) => {
      queryClient.setQueryData(taskKeys.detail(task.id), task);
      return queryClient.invalidateQueries({ queryKey: taskKeys.lists() });
    },
  });
}

export function useCancelTask(id: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST('/v1/tasks/{task_id}/cancel', { params: { path: { task_id: id } } })),
    onSuccess: (task) => {
      queryClient.setQueryData(taskKeys.detail(id), task);
      return queryClient.invalidateQueries({ queryKey: taskKeys.lists() });
    },
  });
}

export function useRetryTask(id: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: TaskRetry) =>
      unwrap(api.POST('/v1/tasks/{task_id}/retry', { params: { path: { task_id: id } }, body })),
    onSuccess: (task) => {
      queryClient.setQueryData(taskKeys.detail(task.id), task);
      return queryClient.invalidateQueries({ queryKey: taskKeys.lists() });
    },
  });
}

export function useDecideApproval(taskId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ approvalId, body }: { approvalId: string; body: ApprovalDecision }) =>
      unwrap(
        api.POST('/v1/tasks/{task_id}/approvals/{approval_id}', {
          params: { path: { task_id: taskId, approval_id: approvalId } },
          body,
        }),
      ),
    onSettled: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: taskKeys.approvals(taskId) }),
        queryClient.invalidateQueries({ queryKey: taskKeys.detail(taskId), exact: true }),
        queryClient.invalidateQueries({ queryKey: ['approvals'] }),
      ]),
  });
}

export function useRequeueDead() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.POST('/v1/dead-letters/{task_id}/requeue', { params: { path: { task_id: id } } })),
    onSettled: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: deadLetterKeys.all }),
        queryClient.invalidateQueries({ queryKey: taskKeys.all }),
      ]),
  });
}

export function useDiscardDead() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE('/v1/dead-letters/{task_id}', { params: { path: { task_id: id } } })),
    onSettled: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: deadLetterKeys.all }),
        queryClient.invalidateQueries({ queryKey: taskKeys.all }),
      ]),
  });
}
