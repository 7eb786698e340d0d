/** Cron schedules: agent runs queued on a cron expression, read in a time zone. */
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../client';
import type { ScheduleCreate, ScheduleUpdate } from '../types';

export const scheduleKeys = {
  all: ['schedules'] as const,
  lists: () => [...scheduleKeys.all, 'list'] as const,
  /** The organisation's schedules, or one agent's. */
  list: (agentId?: string) => [...scheduleKeys.lists(), { agent_id: agentId ?? null }] as const,
  detail: (id: string) => [...scheduleKeys.all, 'detail', id] as const,
  /** When an expression not saved yet would fire. */
  preview: (cron: string, timezone: string) => [...scheduleKeys.all, 'preview', { cron, timezone }] as const,
};

export const scheduleQueries = {
  list: (agentId?: string) =>
    queryOptions({
      queryKey: scheduleKeys.list(agentId),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/schedules', { params: { query: { agent_id: agentId } }, signal })),
      // Next and last runs move on as schedules fire.
      refetchInterval: 60_000,
    }),
  detail: (id: string) =>
    queryOptions({
      queryKey: scheduleKeys.detail(id),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/schedules/{schedule_id}', { params: { path: { schedule_id: id } }, signal })),
    }),
  preview: (cron: string, timezone: string) =>
    queryOptions({
      queryKey: scheduleKeys.preview(cron, timezone),
      queryFn: ({ signal }) => unwrap(api.POST('/v1/schedules/preview', { body: { cron, timezone, count: 3 }, signal })),
      // The answer depends on the clock: keep it for a minute, and do not retry an expression the server refused.
      staleTime: 60_000,
      retry: false,
    }),
};

export function useCreateSchedule() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: ScheduleCreate) => unwrap(api.POST('/v1/schedules', { body })),
    onSuccess: (schedule) => {
      queryClient.setQueryData(scheduleKeys.detail(schedule.id), schedule);
      return queryClient.invalidateQueries({ queryKey: scheduleKeys.lists() });
    },
  });
}

export function useUpdateSchedule() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: ScheduleUpdate }) =>
      unwrap(api.PATCH('/v1/schedules/{schedule_id}', { params: { path: { schedule_id: id } }, body })),
    onSuccess: (schedule) => {
      queryClient.setQueryData(scheduleKeys.detail(schedule.id), schedule);
      return queryClient.invalidateQueries({ queryKey: scheduleKeys.lists() });
    },
  });
}

export function useDeleteSchedule() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE('/v1/schedules/{schedule_id}', { params: { path: { schedule_id: id } } })),
    onSuccess: (_data, id) => {
      queryClient.removeQueries({ queryKey: scheduleKeys.detail(id) });
      return queryClient.invalidateQueries({ queryKey: scheduleKeys.lists() });
    },
  });
}
