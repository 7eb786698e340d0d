/** Organisations, members and invitations. */
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../client';
import type { InvitationCreate, OrganizationUpdate, Role } from '../types';
import { meKeys } from './me';

export const orgKeys = {
  all: ['orgs'] as const,
  list: () => [...orgKeys.all, 'list'] as const,
  detail: (orgId: string) => [...orgKeys.all, 'detail', orgId] as const,
  members: (orgId: string) => [...orgKeys.detail(orgId), 'members'] as const,
  invitations: (orgId: string) => [...orgKeys.detail(orgId), 'invitations'] as const,
};

export const orgQueries = {
  list: () =>
    queryOptions({ queryKey: orgKeys.list(), queryFn: ({ signal }) => unwrap(api.GET('/v1/orgs', { signal })) }),
  detail: (orgId: string) =>
    queryOptions({
      queryKey: orgKeys.detail(orgId),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/orgs/{org_id}', { params: { path: { org_id: orgId } }, signal })),
    }),
  members: (orgId: string) =>
    queryOptions({
      queryKey: orgKeys.members(orgId),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/orgs/{org_id}/members', { params: { path: { org_id: orgId } }, signal })),
    }),
  invitations: (orgId: string) =>
    queryOptions({
      queryKey: orgKeys.invitations(orgId),
      queryFn: ({ signal }) =>
        unwrap(api.GET('/v1/orgs/{org_id}/invitations', { params: { path: { org_id: orgId } }, signal })),
    }),
};

export function useUpdateOrg(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: OrganizationUpdate) =>
      unwrap(api.PATCH('/v1/orgs/{org_id}', { params: { path: { org_id: orgId } }, body })),
    onSuccess: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: orgKeys.all }),
        queryClient.invalidateQueries({ queryKey: meKeys.all }),
      ]),
  });
}

export function useChangeMemberRole(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ userId, role }: { userId: string; role: Role }) =>
      unwrap(
        api.PATCH('/v1/orgs/{org_id}/members/{user_id}', {
          params: { path: { org_id: orgId, user_id: userId } },
          body: { role },
        }),
      ),
    onSettled: () => queryClient.invalidateQueries({ queryKey: orgKeys.members(orgId) }),
  });
}

export function useRemoveMember(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (userId: string) =>
      unwrap(api.DELETE('/v1/orgs/{org_id}/members/{user_id}', { params: { path: { org_id: orgId, user_id: userId } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: orgKeys.members(orgId) }),
  });
}

export function useInvite(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: InvitationCreate) =>
      unwrap(api.POST('/v1/orgs/{org_id}/invitations', { params: { path: { org_id: orgId } }, body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: orgKeys.invitations(orgId) }),
  });
}

export function useRevokeInvitation(orgId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (invitationId: string) =>
      unwrap(
        api.DELETE('/v1/orgs/{org_id}/invitations/{invitation_id}', {
          params: { path: { org_id: orgId, invitation_id: invitationId } },
        }),
      ),
    onSettled: () => queryClient.invalidateQueries({ queryKey: orgKeys.invitations(orgId) }),
  });
}
