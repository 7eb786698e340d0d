import CancelIcon from '@mui/icons-material/Cancel';
import EditIcon from '@mui/icons-material/Edit';
import ReplayIcon from '@mui/icons-material/Replay';
import {
  Alert,
  Box,
  Button,
  Grid,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  Typography,
} from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useNavigate, useParams } from '@tanstack/react-router';
import { useMemo, useState } from 'react';
import { agentQueries } from '../../api/queries/agents';
import { isTerminal, taskQueries, useCancelTask, useRequeueDead, useRetryTask } from '../../api/queries/tasks';
import type { StepOut, TaskOut } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { JsonView } from '../../components/JsonView';
import { PageHeader } from '../../components/PageHeader';
import { FormAlert } from '../../components/FormAlert';
import { StateChip } from '../../components/StateChip';
import { ErrorState, LoadingState } from '../../components/States';
import { Time } from '../../components/Time';
import { formatCost, formatDateTime, formatDuration, formatNumber, shortId } from '../../components/format';
import { RouterLink } from '../../components/links';
import { RunDialog } from '../agents/RunDialog';
import { ApprovalCard } from './ApprovalCard';
import { RetryDialog } from './RetryDialog';
import { StreamStatus } from './StreamStatus';
import { TaskFiles } from './TaskFiles';
import { Timeline, llmFacts } from './Timeline';
import { useTaskStream } from './useTaskStream';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function Facts({ task, steps }: { task: TaskOut; steps: StepOut[] }) {
  const usage = useMemo(() => {
    let input = 0;
    let output = 0;
    let cost = 0;
    for (const step of steps) {
      const facts = llmFacts(step);
      if (!facts) continue;
      input += facts.inputTokens;
      output += facts.outputTokens;
      cost += facts.cost;
    }
    return { input, output, cost };
  }, [steps]);
  const rows: [string, React.ReactNode][] = [
    ['Created', <Time key="c" value={task.created_at} />],
    ['Started', task.started_at ? formatDateTime(task.started_at) : '—'],
    ['Duration', formatDuration(task.started_at, task.finished_at ?? (isTerminal(task.state) ? null : new Date().toISOString()))],
    ['Attempt', `${task.attempt} of ${task.max_attempts}`],
    ['Tokens', `${formatNumber(usage.input)} in · ${formatNumber(usage.output)} out`],
    ['Cost', formatCost(usage.cost)],
    ['Priority', String(task.priority)],
  ];
  if (task.parent_task_id) {
    rows.push([
      'Retry of',
      <RouterLink key="p" to="/tasks/$taskId" params={{ taskId: task.parent_task_id }}>
        {shortId(task.parent_task_id)}
      </RouterLink>,
    ]);
  }
  return (
    <Box component="dl" sx={{ display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: '4px 16px', m: 0 }}>
      {rows.map(([label, value]) => (
        <Box key={label} sx={{ display: 'contents' }}>
          <Typography component="dt" color="text.secondary">
            {label}
          </Typography>
          <Typography component="dd" sx={{ m: 0 }}>
            {value}
          </Typography>
        </Box>
      ))}
    </Box>
  );
}

function Output({ task }: { task: TaskOut }) {
  const output = isObject(task.output) ? task.output : null;
  const text = output && typeof output.text === 'string' ? output.text : null;
  const stopReason = output && typeof output.stop_reason === 'string' ? output.stop_reason : null;
  if (task.error) {
    return (
      <Alert severity="error">
        <Typography sx={{ fontWeight: 600 }}>{String(task.error.code ?? task.error.type ?? 'Error')}</Typography>
        {String(task.error.message ?? '')}
        <JsonView value={task.error} label="Error details" maxHeight={200} />
      </Alert>
    );
  }
  if (task.output === null || task.output === undefined) {
    return <Typography color="text.secondary">{isTerminal(task.state) ? 'No output.' : 'Not finished yet.'}</Typography>;
  }
  return (
    <>
      {stopReason && stopReason !== 'final' && (
        <Alert severity="warning" role="note" sx={{ mb: 1 }}>
          Stopped early: {stopReason.replace(/_/g, ' ')}.
        </Alert>
      )}
      {text !== null ? (
        <Box component="pre" sx={{ m: 0, whiteSpace: 'pre-wrap', overflowWrap: 'anywhere', fontFamily: 'inherit' }}>
          {text}
        </Box>
      ) : (
        <JsonView value={task.output} label="Output" />
      )}
    </>
  );
}

export function TaskInspector() {
  const { taskId } = useParams({ from: '/app/tasks/$taskId' });
  const navigate = useNavigate();
  const { can, me } = usePermissions();
  const task = useQuery(taskQueries.detail(taskId));
  const steps = useQuery(taskQueries.steps(taskId));
  const approvals = useQuery(taskQueries.approvals(taskId));
  const agent = useQuery({ ...agentQueries.detail(task.data?.agent_id ?? ''), enabled: Boolean(task.data) && can('agents:read') });
  const stream = useTaskStream(taskId);
  const cancel = useCancelTask(taskId);
  const retry = useRetryTask(taskId);
  const requeue = useRequeueDead();
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [retryFrom, setRetryFrom] = useState<number | null | undefined>(undefined);
  const [rerunning, setRerunning] = useState(false);

  if (task.isPending) {
    // The heading is there from the start: focus lands on it after navigating.
    return (
      <>
        <PageHeader title={`Task ${shortId(taskId)}`} before={<RouterLink to="/tasks" search={{ state: undefined, agent_id: undefined }}>← Tasks</RouterLink>} />
        <LoadingState label="Loading the task…" />
      </>
    );
  }
  if (task.isError) {
    return (
      <>
        <PageHeader title={`Task ${shortId(taskId)}`} before={<RouterLink to="/tasks" search={{ state: undefined, agent_id: undefined }}>← Tasks</RouterLink>} />
        <ErrorState error={task.error} onRetry={() => void task.refetch()} />
      </>
    );
  }
  const data = task.data;
  const finished = isTerminal(data.state);
  const own = data.created_by_id === me.id;
  const mayAct = can('tasks:run') && (own || can('tasks:manage'));
  // Requeueing a dead task is the operator's act (as in the dead-letter queue), whoever created it.
  const mayRequeue = data.state === 'dead' && can('tasks:manage');
  const stepList = steps.data ?? [];
  const pendingApprovals = (approvals.data?.items ?? []).filter((item) => item.status === 'pending');
  const pastApprovals = (approvals.data?.items ?? []).filter((item) => item.status !== 'pending');
  const startRetry = (from: number | null) => {
    retry.reset();
    setRetryFrom(from);
  };

  return (
    <>
      <PageHeader
        title={`Task ${shortId(data.id)}`}
        before={<RouterLink to="/tasks" search={{ state: undefined, agent_id: undefined }}>← Tasks</RouterLink>}
        description={
          <>
            {agent.data ? (
              <RouterLink to="/agents/$agentId" params={{ agentId: data.agent_id }} search={{ tab: undefined }}>
                {agent.data.name}
              </RouterLink>
            ) : (
              <>Agent {shortId(data.agent_id)}</>
            )}
            {' · '}
            <Box component="span" sx={{ fontFamily: 'monospace' }}>
              {data.id}
            </Box>
          </>
        }
        actions={
          (mayAct || mayRequeue) && (
            <>
              {mayRequeue && (
                // The same task again with fresh attempts, resuming from its checkpoints (unlike Retry, which
                // starts a new task); the page follows it live again.
                <Button
                  variant="contained"
                  startIcon={<ReplayIcon />}
                  loading={requeue.isPending}
                  onClick={() => requeue.mutate(data.id, { onSuccess: () => stream.reconnect() })}
                >
                  Requeue
                </Button>
              )}
              {!finished && mayAct && (
                <Button color="error" variant="outlined" startIcon={<CancelIcon />} disabled={data.cancel_requested} onClick={() => setConfirmCancel(true)}>
                  {data.cancel_requested ? 'Cancelling…' : 'Cancel'}
                </Button>
              )}
              {finished && mayAct && (
                <>
                  <Button variant="outlined" startIcon={<ReplayIcon />} onClick={() => startRetry(null)}>
                    Retry
                  </Button>
                  <Button variant="outlined" startIcon={<EditIcon />} onClick={() => setRerunning(true)} disabled={!agent.data}>
                    Re-run with new input
                  </Button>
                </>
              )}
            </>
          )
        }
      />
      <Stack direction="row" sx={{ gap: 1, alignItems: 'center', mb: 2, flexWrap: 'wrap' }}>
        {/* Announced when it changes: someone watching a run hears it finish. */}
        <span role="status" aria-label="Task state">
          <StateChip state={data.state} size="medium" />
        </span>
        <StreamStatus status={stream.status} retryInMs={stream.retryInMs} onReconnect={stream.reconnect} />
      </Stack>
      <FormAlert message={requeue.isError ? `Could not requeue: ${requeue.error.message}` : null} />

      {pendingApprovals.map((approval) => (
        <ApprovalCard key={approval.id} approval={approval} canDecide={mayAct} />
      ))}

      <Grid container spacing={3}>
        <Grid size={{ xs: 12, md: 8 }}>
          <Paper variant="outlined" component="section" aria-labelledby="output-heading" sx={{ p: 2, mb: 3 }}>
            <Typography variant="h2" id="output-heading" gutterBottom>
              Result
            </Typography>
            <Output task={data} />
          </Paper>
          <Box component="section" aria-labelledby="timeline-heading" sx={{ mb: 3 }}>
            <Typography variant="h2" id="timeline-heading" gutterBottom>
              Timeline
            </Typography>
            {steps.isError ? (
              <ErrorState error={steps.error} onRetry={() => void steps.refetch()} />
            ) : steps.isPending ? (
              <LoadingState label="Loading steps…" />
            ) : (
              <Timeline steps={stepList} tokens={stream.tokens} onRetryFrom={finished && mayAct ? (position) => startRetry(position) : undefined} />
            )}
          </Box>
          {pastApprovals.length > 0 && (
            <Box component="section" aria-labelledby="approvals-heading" sx={{ mb: 3 }}>
              <Typography variant="h2" id="approvals-heading" gutterBottom>
                Approvals
              </Typography>
              {pastApprovals.map((approval) => (
                <ApprovalCard key={approval.id} approval={approval} canDecide={false} />
              ))}
            </Box>
          )}
        </Grid>
        <Grid size={{ xs: 12, md: 4 }}>
          <Paper variant="outlined" component="section" aria-labelledby="facts-heading" sx={{ p: 2, mb: 3 }}>
            <Typography variant="h2" id="facts-heading" gutterBottom>
              Details
            </Typography>
            <Facts task={data} steps={stepList} />
          </Paper>
          <Paper variant="outlined" component="section" aria-labelledby="input-heading" sx={{ p: 2, mb: 3 }}>
            <Typography variant="h2" id="input-heading" gutterBottom>
              Input
            </Typography>
            <JsonView value={data.input} label="Task input" />
          </Paper>
          <Paper variant="outlined" component="section" aria-labelledby="files-heading" sx={{ p: 2, mb: 3 }}>
            <Typography variant="h2" id="files-heading" gutterBottom>
              Files
            </Typography>
            <TaskFiles taskId={data.id} />
          </Paper>
        </Grid>
      </Grid>

      <Box component="section" aria-labelledby="events-heading">
        <Typography variant="h2" id="events-heading" gutterBottom>
          Event log
        </Typography>
        {stream.events.length === 0 ? (
          <Typography color="text.secondary">{stream.status === 'failed' ? 'The event log could not be loaded.' : 'No events yet.'}</Typography>
        ) : (
          // A long log scrolls in its box: focusable (and named) so it can be scrolled by keyboard too.
          <TableContainer component={Paper} variant="outlined" sx={{ maxHeight: 400 }} tabIndex={0} role="region" aria-label="Event log, scrollable">
            <Table size="small" stickyHeader aria-label="Events">
              <TableHead>
                <TableRow>
                  <TableCell>#</TableCell>
                  <TableCell>Event</TableCell>
                  <TableCell>When</TableCell>
                  <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Data</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {stream.events.map((event) => (
                  <TableRow key={event.seq}>
                    <TableCell>{event.seq}</TableCell>
                    <TableCell sx={{ fontFamily: 'monospace' }}>{event.type}</TableCell>
                    <TableCell>
                      <Time value={event.created_at} />
                    </TableCell>
                    <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' }, fontFamily: 'monospace', fontSize: '0.75rem', overflowWrap: 'anywhere' }}>
                      {Object.keys(event.data).length ? JSON.stringify(event.data) : ''}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </TableContainer>
        )}
      </Box>

      <ConfirmDialog
        open={confirmCancel}
        title="Cancel this task?"
        confirmLabel="Cancel task"
        destructive
        pending={cancel.isPending}
        error={cancel.error}
        onClose={() => {
          setConfirmCancel(false);
          cancel.reset();
        }}
        onConfirm={() => cancel.mutate(undefined, { onSuccess: () => setConfirmCancel(false) })}
      >
        A running task is interrupted within a second; a waiting one stops waiting. This cannot be undone, but you can retry it later.
      </ConfirmDialog>
      {retryFrom !== undefined && (
        <RetryDialog
          open
          steps={stepList}
          fromStep={retryFrom ?? undefined}
          pending={retry.isPending}
          error={retry.error}
          onClose={() => setRetryFrom(undefined)}
          onSubmit={(body) =>
            retry.mutate(body, {
              onSuccess: (created) => {
                setRetryFrom(undefined);
                void navigate({ to: '/tasks/$taskId', params: { taskId: created.id } });
              },
            })
          }
        />
      )}
      {rerunning && agent.data && (
        <RunDialog
          open
          title="Re-run with new input"
          submitLabel="Run again"
          inputSchema={agent.data.input_schema}
          initialInput={data.input}
          pending={retry.isPending}
          onClose={() => setRerunning(false)}
          onSubmit={({ input }, callbacks) =>
            // From the first step: nothing of the old run is replayed, the new task links back to this one.
            retry.mutate(
              { input, from_step: 1 },
              {
                onSuccess: (created) => {
                  setRerunning(false);
                  void navigate({ to: '/tasks/$taskId', params: { taskId: created.id } });
                },
                onError: callbacks.onError,
              },
            )
          }
        />
      )}
    </>
  );
}
