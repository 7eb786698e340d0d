import {
  Box,
  Button,
  Chip,
  MenuItem,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { agentQueries } from '../../api/queries/agents';
import { isTerminal, taskQueries } from '../../api/queries/tasks';
import type { TaskState } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { LoadMore } from '../../components/LoadMore';
import { PageHeader } from '../../components/PageHeader';
import { StateChip } from '../../components/StateChip';
import { EmptyState, ErrorState, LoadingState, NoAccess } from '../../components/States';
import { Time } from '../../components/Time';
import { formatDuration, shortId } from '../../components/format';
import { ButtonLink, RouterLink } from '../../components/links';

const STATES: TaskState[] = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'dead'];
const hideOnPhone = { display: { xs: 'none', sm: 'table-cell' } } as const;

/** Agent names by id, from the first page of agents (tasks show an id only when the agent is not in it). */
export function useAgentNames(enabled = true) {
  const agents = useInfiniteQuery({ ...agentQueries.list({}), enabled });
  const names = new Map<string, string>();
  for (const page of agents.data?.pages ?? []) for (const agent of page.items) names.set(agent.id, agent.name);
  return { names, agents: agents.data?.pages.flatMap((page) => page.items) ?? [] };
}

export function TasksList() {
  const { can } = usePermissions();
  const search = useSearch({ from: '/app/tasks' });
  const navigate = useNavigate({ from: '/tasks' });
  const { names, agents } = useAgentNames(can('agents:read'));
  const tasks = useInfiniteQuery({
    ...taskQueries.list({ state: search.state, agent_id: search.agent_id }),
    enabled: can('tasks:read'),
    // Keep the list current while some of it is still running.
    refetchInterval: (query) =>
      query.state.data?.pages.some((page) => page.items.some((task) => !isTerminal(task.state))) ? 5000 : false,
  });
  const items = tasks.data?.pages.flatMap((page) => page.items) ?? [];
  const selected = new Set(search.state ?? []);
  const toggle = (state: TaskState) => {
    const next = new Set(selected);
    if (next.has(state)) next.delete(state);
    else next.add(state);
    void navigate({ search: (prev) => ({ ...prev, state: next.size ? STATES.filter((s) => next.has(s)) : undefined }), replace: true });
  };
  const filtered = Boolean(search.state?.length || search.agent_id);

  return (
    <>
      <PageHeader
        title="Tasks"
        description={can('tasks:read_all') ? 'Every run in the organisation, newest first.' : 'Your runs, newest first.'}
      />
      {!can('tasks:read') ? (
        <NoAccess what="see tasks" />
      ) : (
        <>
          <Stack direction={{ xs: 'column', md: 'row' }} spacing={2} sx={{ mb: 2, alignItems: { md: 'center' } }}>
            <Box role="group" aria-label="Filter by state" sx={{ display: 'flex', flexWrap: 'wrap', gap: 0.5 }}>
              {STATES.map((state) => (
                <Chip
                  key={state}
                  label={state}
                  clickable
                  color={selected.has(state) ? 'primary' : 'default'}
                  variant={selected.has(state) ? 'filled' : 'outlined'}
                  onClick={() => toggle(state)}
                  aria-pressed={selected.has(state)}
                  component="button"
                />
              ))}
            </Box>
            {can('agents:read') && (
              <TextField
                select
                label="Agent"
                size="small"
                margin="none"
                value={search.agent_id ?? ''}
                onChange={(event) => void navigate({ search: (prev) => ({ ...prev, agent_id: event.target.value || undefined }), replace: true })}
                sx={{ minWidth: 220 }}
              >
                <MenuItem value="">All agents</MenuItem>
                {search.agent_id && !names.has(search.agent_id) && <MenuItem value={search.agent_id}>{shortId(search.agent_id)}</MenuItem>}
                {agents.map((agent) => (
                  <MenuItem key={agent.id} value={agent.id}>
                    {agent.name}
                  </MenuItem>
                ))}
              </TextField>
            )}
            {filtered && (
              <Button onClick={() => void navigate({ search: { state: undefined, agent_id: undefined }, replace: true })}>Clear filters</Button>
            )}
          </Stack>
          {tasks.isPending ? (
            <LoadingState label="Loading tasks…" />
          ) : tasks.isError ? (
            <ErrorState error={tasks.error} onRetry={() => void tasks.refetch()} />
          ) : items.length === 0 ? (
            filtered ? (
              <EmptyState title="No tasks match" description="Try other states or another agent." />
            ) : (
              <EmptyState
                title="No tasks yet"
                description="A task is one run of an agent. Open an agent and press Run."
                action={
                  can('agents:read') && (
                    <ButtonLink to="/agents" search={{ q: undefined }} variant="contained">
                      Go to agents
                    </ButtonLink>
                  )
                }
              />
            )
          ) : (
            <>
              <TableContainer component={Paper} variant="outlined">
                <Table aria-label="Tasks" sx={{ '& td, & th': { px: { xs: 1, sm: 2 } } }}>
                  <TableHead>
                    <TableRow>
                      <TableCell>Task</TableCell>
                      <TableCell>State</TableCell>
                      <TableCell sx={hideOnPhone}>Agent</TableCell>
                      <TableCell>Created</TableCell>
                      <TableCell sx={hideOnPhone}>Duration</TableCell>
                    </TableRow>
                  </TableHead>
                  <TableBody aria-busy={tasks.isFetching}>
                    {items.map((task) => (
                      <TableRow key={task.id} hover>
                        <TableCell>
                          <RouterLink to="/tasks/$taskId" params={{ taskId: task.id }} sx={{ fontFamily: 'monospace' }} aria-label={`Task ${shortId(task.id)}`}>
                            {shortId(task.id)}
                          </RouterLink>
                          <Typography variant="body2" color="text.secondary" sx={{ display: { sm: 'none' } }}>
                            {names.get(task.agent_id) ?? shortId(task.agent_id)}
                          </Typography>
                          {task.attempt > 1 && (
                            <Typography variant="body2" color="text.secondary">
                              attempt {task.attempt}
                            </Typography>
                          )}
                        </TableCell>
                        <TableCell>
                          <StateChip state={task.state} />
                        </TableCell>
                        <TableCell sx={hideOnPhone}>{names.get(task.agent_id) ?? shortId(task.agent_id)}</TableCell>
                        <TableCell>
                          <Time value={task.created_at} />
                        </TableCell>
                        <TableCell sx={hideOnPhone}>{formatDuration(task.started_at, task.finished_at)}</TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              </TableContainer>
              <LoadMore hasNextPage={tasks.hasNextPage} isFetchingNextPage={tasks.isFetchingNextPage} fetchNextPage={tasks.fetchNextPage} />
            </>
          )}
        </>
      )}
    </>
  );
}
