/** The signed-in user (`GET /v1/me`), the organisation requests act in, and sign-in/out flows. */
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../client';
import { emitAuthEvent, setCsrfToken, setOrgId } from '../session';
import type {
  EmailRequest,
  InvitationAccept,
  LoginRequest,
  PasswordResetConfirm,
  SetupRequest,
  SignupRequest,
} from '../types';

export const meKeys = {
  all: ['me'] as const,
};

export const meQuery = () =>
  queryOptions({
    queryKey: meKeys.all,
    queryFn: ({ signal }) => unwrap(api.GET('/v1/me', { signal })),
    staleTime: 60_000,
  });

export function useLogin() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: LoginRequest) => unwrap(api.POST('/v1/auth/login', { body })),
    onSuccess: async (tokens) => {
      setCsrfToken(tokens.csrf_token);
      queryClient.clear();
      await queryClient.fetchQuery(meQuery());
      emitAuthEvent('signed-in');
    },
  });
}

export function useLogout() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (everywhere: boolean = false) => unwrap(api.POST('/v1/auth/logout', { body: { everywhere } })),
    onSettled: () => {
      // Signed out locally even when the server could not be told (the cookies expire on their own).
      setCsrfToken(null);
      setOrgId(null);
      queryClient.clear();
      emitAuthEvent('signed-out');
    },
  });
}

export const useSignup = () =>
  useMutation({ mutationFn: (body: SignupRequest) => unwrap(api.POST('/v1/auth/signup', { body })) });

export const useVerifyEmail = () =>
  useMutation({ mutationFn: (token: string) => unwrap(api.POST('/v1/auth/verify-email', { body: { token } })) });

export const useResendVerification = () =>
  useMutation({
    mutationFn: (body: EmailRequest) => unwrap(api.POST('/v1/auth/verify-email/resend', { body })),
  });

export const useRequestPasswordReset = () =>
  useMutation({
    mutationFn: (body: EmailRequest) => unwrap(api.POST('/v1/auth/password-reset/request', { body })),
  });

export const useConfirmPasswordReset = () =>
  useMutation({
    mutationFn: (body: PasswordResetConfirm) => unwrap(api.POST('/v1/auth/password-reset/confirm', { body })),
  });

export function useAcceptInvitation() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: InvitationAccept) => unwrap(api.POST('/v1/invitations/accept', { body })),
    onSuccess: (org) => {
      setOrgId(org.id);
      queryClient.clear();
    },
  });
}

export const useSetup = () =>
  useMutation({ mutationFn: (body: SetupRequest) => unwrap(api.POST('/v1/setup', { body })) });

/**
 * Act in another organisation. Every cached answer belonged to the old one: reset them all (no stale data
 * shows), and what is on screen is fetched again with the new `X-Org-Id`.
 */
export function useSwitchOrganization() {
  const queryClient = useQueryClient();
  return (orgId: string) => {
    setOrgId(orgId);
    return queryClient.resetQueries();
  };
}
