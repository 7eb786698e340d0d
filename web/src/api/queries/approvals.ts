/** The organisation's approval requests (the inbox of gated tool calls waiting for a decision). */
import { queryOptions } from '@tanstack/react-query';
import { api, unwrap } from '../client';
import type { ApprovalStatus } from '../types';

export const approvalKeys = {
  all: ['approvals'] as const,
  list: (status?: ApprovalStatus) => [...approvalKeys.all, 'list', { status }] as const,
};

export const approvalQueries = {
  list: (status?: ApprovalStatus) =>
    queryOptions({
      queryKey: approvalKeys.list(status),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/approvals', { params: { query: { status, limit: 50 } }, signal })),
      refetchInterval: 30_000,
    }),
};
