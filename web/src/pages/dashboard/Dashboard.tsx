import { Box, Grid, Paper, Stack, Table, TableBody, TableCell, TableRow, Typography } from '@mui/material';
import { useQueries, useQuery } from '@tanstack/react-query';
import { lazy, Suspense, type ReactNode } from 'react';
import { agentQueries } from '../../api/queries/agents';
import { approvalQueries } from '../../api/queries/approvals';
import { taskQueries } from '../../api/queries/tasks';
import { queueQueries, usageQueries } from '../../api/queries/usage';
import type { TaskState } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { PageHeader } from '../../components/PageHeader';
import { StateChip } from '../../components/StateChip';
import { EmptyState, ErrorState, LoadingState } from '../../components/States';
import { Time } from '../../components/Time';
import { formatCost, formatNumber, shortId } from '../../components/format';

const USAGE_DAYS = 14;
import { ButtonLink, RouterLink } from '../../components/links';
import { useAgentNames } from '../tasks/TasksList';

const UsageChart = lazy(() => import('./UsageChart').then((module) => ({ default: module.UsageChart })));

const COUNT_LIMIT = 200;
const QUEUE_STATES: { state: TaskState; label: string; help: string }[] = [
  { state: 'queued', label: 'Queued', help: 'Waiting for a worker' },
  { state: 'running', label: 'Running', help: 'On a worker now' },
  { state: 'waiting', label: 'Waiting', help: 'For an approval, a signal or a timer' },
  { state: 'dead', label: 'Dead', help: 'Out of retries' },
];

function Stat({ label, value, help, link }: { label: string; value: ReactNode; help?: string; link?: ReactNode }) {
  return (
    <Paper variant="outlined" sx={{ p: 2, height: '100%' }}>
      <Typography color="text.secondary" variant="body2">
        {label}
      </Typography>
      <Typography sx={{ fontSize: '1.75rem', fontWeight: 700, lineHeight: 1.3 }}>{value}</Typography>
      {help && (
        <Typography color="text.secondary" variant="body2">
          {help}
        </Typography>
      )}
      {link}
    </Paper>
  );
}

const formatWait = (seconds: number) =>
  seconds < 1 ? 'under a second' : seconds < 120 ? `${Math.round(seconds)} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`;

const countLabel = (count: number | undefined, more: boolean) => (count === undefined ? '…' : more ? `${formatNumber(count)}+` : formatNumber(count));

export function Dashboard() {
  const { can, me } = usePermissions();
  const readsAll = can('tasks:read_all');
  const { names } = useAgentNames(can('agents:read'));
  const agents = useQuery({ ...agentQueries.count(COUNT_LIMIT), enabled: can('agents:read') });
  const recent = useQuery({ ...taskQueries.recent(10), enabled: can('tasks:read') });
  const usage = useQuery({ ...usageQueries.daily(USAGE_DAYS), enabled: can('tasks:read') });
  // Exact counts for the organisation with queues:read (operators, admins); else a count of one's own tasks.
  const stats = useQuery({ ...queueQueries.stats(), enabled: can('queues:read') });
  const approvals = useQuery({ ...approvalQueries.list('pending'), enabled: can('tasks:read') });
  const ownCounts = useQueries({
    queries: QUEUE_STATES.map(({ state }) => ({ ...taskQueries.count(state, COUNT_LIMIT), enabled: can('tasks:read') && !can('queues:read') })),
  });
  const count = (state: TaskState, index: number): { value: string; failed: boolean; n: number } => {
    if (can('queues:read')) {
      const n = stats.data?.by_state[state];
      return { value: n === undefined ? '…' : formatNumber(n), failed: stats.isError, n: n ?? 0 };
    }
    const result = ownCounts[index];
    const n = result?.data?.items.length;
    return { value: countLabel(n, Boolean(result?.data?.next_cursor)), failed: Boolean(result?.isError), n: n ?? 0 };
  };
  const totals = (usage.data ?? []).reduce(
    (sum, day) => ({ tokens: sum.tokens + day.input_tokens + day.output_tokens, cost: sum.cost + day.cost_usd }),
    { tokens: 0, cost: 0 },
  );
  const latest = recent.data?.items ?? [];
  const name = me.display_name || me.email;

  return (
    <>
      <PageHeader title="Dashboard" description={`Welcome back, ${name}. ${readsAll ? 'Figures cover the whole organisation.' : 'Figures cover your own tasks.'}`} />
      <Grid container spacing={2} sx={{ mb: 3 }}>
        {can('agents:read') && (
          <Grid size={{ xs: 6, md: 3 }}>
            <Stat
              label="Agents"
              value={agents.isError ? '—' : countLabel(agents.data?.items.length, Boolean(agents.data?.next_cursor))}
              link={<RouterLink to="/agents" search={{ q: undefined }} variant="body2">All agents</RouterLink>}
            />
          </Grid>
        )}
        {can('tasks:read') && (
          <Grid size={{ xs: 6, md: 3 }}>
            <Stat
              label="Waiting for approval"
              value={approvals.isError ? '—' : countLabel(approvals.data?.items.length, Boolean(approvals.data?.next_cursor))}
              link={<RouterLink to="/approvals" variant="body2">Decide</RouterLink>}
            />
          </Grid>
        )}
        {can('tasks:read') && (
          <>
            <Grid size={{ xs: 6, md: 3 }}>
              <Stat label={`Tokens, ${USAGE_DAYS} days`} value={usage.isError ? '—' : usage.data ? formatNumber(totals.tokens) : '…'} />
            </Grid>
            <Grid size={{ xs: 6, md: 3 }}>
              <Stat label={`Cost, ${USAGE_DAYS} days`} value={usage.isError ? '—' : usage.data ? formatCost(totals.cost) : '…'} />
            </Grid>
          </>
        )}
      </Grid>

      {can('tasks:read') ? (
        <Grid container spacing={3}>
          <Grid size={{ xs: 12, lg: 5 }}>
            <Paper variant="outlined" component="section" aria-labelledby="queue-heading" sx={{ p: 2, mb: 3 }}>
              <Typography variant="h2" id="queue-heading">
                Queue health
              </Typography>
              <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
                {can('queues:read') ? 'The organisation’s tasks, counted now.' : 'Your tasks.'}
              </Typography>
              <Table size="small" aria-labelledby="queue-heading">
                <TableBody>
                  {QUEUE_STATES.map(({ state, label, help }, index) => {
                    const shown = count(state, index);
                    return (
                      <TableRow key={state}>
                        <TableCell component="th" scope="row">
                          <RouterLink to="/tasks" search={{ state: [state], agent_id: undefined }}>
                            {label}
                          </RouterLink>
                          <Typography variant="body2" color="text.secondary">
                            {help}
                          </Typography>
                        </TableCell>
                        <TableCell align="right" sx={{ fontSize: '1.25rem', fontWeight: 700, color: state === 'dead' && shown.n ? 'error.main' : undefined }}>
                          {shown.failed ? '—' : shown.value}
                        </TableCell>
                      </TableRow>
                    );
                  })}
                </TableBody>
              </Table>
              {stats.data && (
                <Typography variant="body2" color="text.secondary" sx={{ mt: 1 }}>
                  {stats.data.by_state.queued
                    ? `Oldest queued task waiting ${formatWait(stats.data.oldest_queued_age_s)}`
                    : 'Nothing is waiting for a worker'}
                  {stats.data.expired_leases > 0 && ` · ${stats.data.expired_leases} running task(s) lost their worker (being recovered)`}
                </Typography>
              )}
              {can('tasks:manage') && (
                <Box sx={{ mt: 1 }}>
                  <RouterLink to="/dead-letters" variant="body2">
                    Open the dead-letter queue
                  </RouterLink>
                </Box>
              )}
            </Paper>
            <Paper variant="outlined" component="section" aria-labelledby="recent-heading" sx={{ p: 2, mb: 3 }}>
              <Stack direction="row" sx={{ justifyContent: 'space-between', alignItems: 'center' }}>
                <Typography variant="h2" id="recent-heading">
                  Recent tasks
                </Typography>
                <RouterLink to="/tasks" search={{ state: undefined, agent_id: undefined }} variant="body2">
                  All tasks
                </RouterLink>
              </Stack>
              {recent.isPending ? (
                <LoadingState />
              ) : recent.isError ? (
                <ErrorState error={recent.error} onRetry={() => void recent.refetch()} />
              ) : latest.length === 0 ? (
                <Typography sx={{ mt: 1 }}>No tasks yet.</Typography>
              ) : (
                <Table size="small" aria-labelledby="recent-heading">
                  <TableBody>
                    {latest.map((task) => (
                      <TableRow key={task.id}>
                        <TableCell>
                          <RouterLink to="/tasks/$taskId" params={{ taskId: task.id }} aria-label={`Task ${shortId(task.id)}`}>
                            {names.get(task.agent_id) ?? shortId(task.agent_id)}
                          </RouterLink>
                        </TableCell>
                        <TableCell>
                          <StateChip state={task.state} />
                        </TableCell>
                        <TableCell align="right">
                          <Time value={task.created_at} />
                        </TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              )}
            </Paper>
          </Grid>
          <Grid size={{ xs: 12, lg: 7 }}>
            <Paper variant="outlined" component="section" aria-labelledby="usage-heading" sx={{ p: 2, mb: 3 }}>
              <Typography variant="h2" id="usage-heading">
                Usage per day
              </Typography>
              <Typography color="text.secondary" variant="body2">
                LLM tokens and cost of the last {USAGE_DAYS} days (UTC){readsAll ? '' : ', of your tasks'}.
              </Typography>
              {usage.isPending ? (
                <LoadingState />
              ) : usage.isError ? (
                <ErrorState error={usage.error} onRetry={() => void usage.refetch()} />
              ) : usage.data.every((day) => day.calls + day.input_tokens + day.output_tokens === 0) ? (
                <Typography sx={{ mt: 2 }}>No LLM calls in these days yet: run an agent and its tokens and cost show here.</Typography>
              ) : (
                <Suspense fallback={<LoadingState label="Drawing the chart…" />}>
                  <UsageChart data={usage.data} />
                </Suspense>
              )}
            </Paper>
          </Grid>
        </Grid>
      ) : (
        <EmptyState
          title="Nothing to show yet"
          description="Your role does not include reading tasks."
          action={
            can('agents:read') && (
              <ButtonLink to="/agents" search={{ q: undefined }} variant="contained">
                Browse agents
              </ButtonLink>
            )
          }
        />
      )}
    </>
  );
}
