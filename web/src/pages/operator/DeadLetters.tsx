import { Alert, Button, Paper, Stack, Table, TableBody, TableCell, TableContainer, TableHead, TableRow, Typography, useMediaQuery, useTheme } from '@mui/material';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { deadLetterQueries, useDiscardDead, useRequeueDead } from '../../api/queries/tasks';
import type { TaskOut } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { LoadMore } from '../../components/LoadMore';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState, ErrorState, LoadingState, NoAccess } from '../../components/States';
import { Time } from '../../components/Time';
import { shortId } from '../../components/format';
import { RouterLink } from '../../components/links';
import { useAgentNames } from '../tasks/TasksList';

const errorText = (task: TaskOut) => {
  const error = task.error ?? {};
  return [error.code ?? error.type, error.message].filter(Boolean).map(String).join(': ') || 'No error recorded.';
};

/** Tasks that ran out of retries (or were poison): requeue them with fresh attempts, or discard them. */
export function DeadLetters() {
  const { can } = usePermissions();
  const dead = useInfiniteQuery({ ...deadLetterQueries.list(), enabled: can('tasks:manage') });
  const requeue = useRequeueDead();
  const discard = useDiscardDead();
  const { names } = useAgentNames(can('agents:read'));
  const [discarding, setDiscarding] = useState<TaskOut | null>(null);
  // On a phone the error goes under the task: a column of its own would wrap word by word.
  const phone = useMediaQuery(useTheme().breakpoints.down('sm'), { noSsr: true });
  const [notice, setNotice] = useState<string | null>(null);
  const items = dead.data?.pages.flatMap((page) => page.items) ?? [];

  return (
    <>
      <PageHeader title="Dead letters" description="Tasks that failed every attempt. Fix the cause, then requeue them — they resume from their checkpoints." />
      {!can('tasks:manage') ? (
        <NoAccess what="handle dead letters" />
      ) : (
        <>
          {notice && (
            <Alert severity="success" role="status" onClose={() => setNotice(null)} sx={{ mb: 2 }}>
              {notice}
            </Alert>
          )}
          {requeue.isError && (
            <Alert severity="error" role="alert" sx={{ mb: 2 }}>
              {requeue.error.message}
            </Alert>
          )}
          {dead.isPending ? (
            <LoadingState label="Loading dead letters…" />
          ) : dead.isError ? (
            <ErrorState error={dead.error} onRetry={() => void dead.refetch()} />
          ) : items.length === 0 ? (
            <EmptyState title="The dead-letter queue is empty" description="No task has run out of retries." />
          ) : (
            <>
              <TableContainer component={Paper} variant="outlined">
                <Table aria-label="Dead tasks">
                  <TableHead>
                    <TableRow>
                      <TableCell>Task</TableCell>
                      {!phone && <TableCell>Error</TableCell>}
                      <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Died</TableCell>
                      <TableCell align="right">Actions</TableCell>
                    </TableRow>
                  </TableHead>
                  <TableBody>
                    {items.map((task) => (
                      <TableRow key={task.id}>
                        <TableCell>
                          <RouterLink to="/tasks/$taskId" params={{ taskId: task.id }} sx={{ fontFamily: 'monospace' }}>
                            {shortId(task.id)}
                          </RouterLink>
                          <Typography variant="body2" color="text.secondary">
                            {names.get(task.agent_id) ?? shortId(task.agent_id)} · {task.attempt} {task.attempt === 1 ? 'attempt' : 'attempts'}
                          </Typography>
                          {phone && (
                            <Typography variant="body2" sx={{ overflowWrap: 'anywhere', mt: 0.5 }}>
                              {errorText(task)}
                            </Typography>
                          )}
                        </TableCell>
                        {!phone && <TableCell sx={{ overflowWrap: 'anywhere', maxWidth: 420 }}>{errorText(task)}</TableCell>}
                        <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>
                          <Time value={task.finished_at ?? task.created_at} />
                        </TableCell>
                        <TableCell align="right">
                          <Stack direction={{ xs: 'column', sm: 'row' }} spacing={1} sx={{ justifyContent: 'flex-end' }}>
                            <Button
                              size="small"
                              variant="outlined"
                              loading={requeue.isPending && requeue.variables === task.id}
                              disabled={requeue.isPending}
                              onClick={() => requeue.mutate(task.id, { onSuccess: () => setNotice(`Task ${shortId(task.id)} is queued again.`) })}
                              aria-label={`Requeue task ${shortId(task.id)}`}
                            >
                              Requeue
                            </Button>
                            <Button size="small" color="error" onClick={() => setDiscarding(task)} aria-label={`Discard task ${shortId(task.id)}`}>
                              Discard
                            </Button>
                          </Stack>
                        </TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              </TableContainer>
              <LoadMore hasNextPage={dead.hasNextPage} isFetchingNextPage={dead.isFetchingNextPage} fetchNextPage={dead.fetchNextPage} />
            </>
          )}
        </>
      )}
      <ConfirmDialog
        open={discarding !== null}
        title={`Discard task ${discarding ? shortId(discarding.id) : ''}?`}
        confirmLabel="Discard task"
        destructive
        pending={discard.isPending}
        error={discard.error}
        onClose={() => {
          setDiscarding(null);
          discard.reset();
        }}
        onConfirm={() =>
          discarding &&
          discard.mutate(discarding.id, {
            onSuccess: () => {
              setNotice(`Task ${shortId(discarding.id)} was discarded.`);
              setDiscarding(null);
            },
          })
        }
      >
        The task is deleted with its steps and events. This cannot be undone.
      </ConfirmDialog>
    </>
  );
}
