/** An agent's webhooks, their delivery log and redelivery. */
import { infiniteQueryOptions, queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../client';
import type { WebhookCreate, WebhookUpdate } from '../types';
import { agentKeys } from './agents';

export const webhookKeys = {
  all: (agentId: string) => agentKeys.webhooks(agentId),
  deliveries: (agentId: string, webhookId: string) => [...webhookKeys.all(agentId), webhookId, 'deliveries'] as const,
  delivery: (agentId: string, webhookId: string, deliveryId: string) =>
    [...webhookKeys.deliveries(agentId, webhookId), deliveryId] as const,
};

const path = (agentId: string, webhookId: string) => ({ path: { agent_id: agentId, webhook_id: webhookId } });

export const webhookQueries = {
  list: (agentId: string) =>
    queryOptions({
      queryKey: webhookKeys.all(agentId),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/agents/{agent_id}/webhooks', { params: { path: { agent_id: agentId } }, signal })),
    }),
  deliveries: (agentId: string, webhookId: string) =>
    infiniteQueryOptions({
      queryKey: webhookKeys.deliveries(agentId, webhookId),
      queryFn: ({ pageParam, signal }) =>
        unwrap(
          api.GET('/v1/agents/{agent_id}/webhooks/{webhook_id}/deliveries', {
            params: { ...path(agentId, webhookId), query: { limit: 20, cursor: pageParam } },
            signal,
          }),
        ),
      initialPageParam: undefined as string | undefined,
      getNextPageParam: (page) => page.next_cursor ?? undefined,
    }),
  delivery: (agentId: string, webhookId: string, deliveryId: string) =>
    queryOptions({
      queryKey: webhookKeys.delivery(agentId, webhookId, deliveryId),
      queryFn: ({ signal }) =>
        unwrap(
          api.GET('/v1/agents/{agent_id}/webhooks/{webhook_id}/deliveries/{delivery_id}', {
            params: { path: { agent_id: agentId, webhook_id: webhookId, delivery_id: deliveryId } },
            signal,
          }),
        ),
    }),
};

export function useCreateWebhook(agentId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: WebhookCreate) =>
      unwrap(api.POST('/v1/agents/{agent_id}/webhooks', { params: { path: { agent_id: agentId } }, body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: webhookKeys.all(agentId) }),
  });
}

export function useUpdateWebhook(agentId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ webhookId, body }: { webhookId: string; body: WebhookUpdate }) =>
      unwrap(api.PATCH('/v1/agents/{agent_id}/webhooks/{webhook_id}', { params: path(agentId, webhookId), body })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: webhookKeys.all(agentId), exact: true }),
  });
}

export function useRotateWebhookSecret(agentId: string) {
  return useMutation({
    mutationFn: (webhookId: string) =>
      unwrap(api.POST('/v1/agents/{agent_id}/webhooks/{webhook_id}/rotate-secret', { params: path(agentId, webhookId) })),
  });
}

export function useDeleteWebhook(agentId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (webhookId: string) =>
      unwrap(api.DELETE('/v1/agents/{agent_id}/webhooks/{webhook_id}', { params: path(agentId, webhookId) })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: webhookKeys.all(agentId) }),
  });
}

export function useRedeliver(agentId: string, webhookId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (deliveryId: string) =>
      unwrap(
        api.POST('/v1/agents/{agent_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver', {
          params: { path: { agent_id: agentId, webhook_id: webhookId, delivery_id: deliveryId } },
        }),
      ),
    onSettled: () => queryClient.invalidateQueries({ queryKey: webhookKeys.deliveries(agentId, webhookId) }),
  });
}
