import { Box, Stack, Tab, Tabs, Typography } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { approvalQueries } from '../../api/queries/approvals';
import type { ApprovalStatus } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState, ErrorState, LoadingState, NoAccess } from '../../components/States';
import { shortId } from '../../components/format';
import { RouterLink } from '../../components/links';
import { ApprovalCard } from './ApprovalCard';

/** Gated tool calls waiting for a person, across tasks (all of them with tasks:read_all). */
export function ApprovalsInbox() {
  const { can } = usePermissions();
  const [status, setStatus] = useState<ApprovalStatus | 'all'>('pending');
  const approvals = useQuery({ ...approvalQueries.list(status === 'all' ? undefined : status), enabled: can('tasks:read') });
  const items = approvals.data?.items ?? [];
  return (
    <>
      <PageHeader title="Approvals" description="Tool calls that wait for a person’s decision before they run." />
      {!can('tasks:read') ? (
        <NoAccess what="see approvals" />
      ) : (
        <>
          <Tabs value={status} onChange={(_event, value: ApprovalStatus | 'all') => setStatus(value)} aria-label="Approval status" sx={{ mb: 2 }}>
            <Tab value="pending" label="Waiting" />
            <Tab value="all" label="All" />
          </Tabs>
          {approvals.isPending ? (
            <LoadingState label="Loading approvals…" />
          ) : approvals.isError ? (
            <ErrorState error={approvals.error} onRetry={() => void approvals.refetch()} />
          ) : items.length === 0 ? (
            <EmptyState title={status === 'pending' ? 'Nothing is waiting for a decision' : 'No approvals yet'} description="Tools marked “needs approval” ask here." />
          ) : (
            items.map((approval) => (
              <Box key={approval.id}>
                <Stack direction="row" sx={{ mb: 0.5 }}>
                  <Typography variant="body2">
                    Task{' '}
                    <RouterLink to="/tasks/$taskId" params={{ taskId: approval.task_id }}>
                      {shortId(approval.task_id)}
                    </RouterLink>
                  </Typography>
                </Stack>
                {/* Without tasks:read_all the list holds only one's own tasks; the API checks again either way. */}
                <ApprovalCard approval={approval} canDecide={can('tasks:run') && (can('tasks:manage') || !can('tasks:read_all'))} />
              </Box>
            ))
          )}
        </>
      )}
    </>
  );
}
