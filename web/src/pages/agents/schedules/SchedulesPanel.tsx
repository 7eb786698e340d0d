import AddIcon from '@mui/icons-material/Add';
import { Alert, Box, Button, Chip, FormControlLabel, Paper, Stack, Switch, Typography } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { scheduleQueries, useDeleteSchedule, useUpdateSchedule } from '../../../api/queries/schedules';
import type { AgentOut, ScheduleOut } from '../../../api/types';
import { usePermissions } from '../../../app/auth';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { EmptyState, ErrorState, LoadingState } from '../../../components/States';
import { Time } from '../../../components/Time';
import { formatDateTimeZone, formatRelative, localTimeZone } from '../../../components/format';
import { RouterLink } from '../../../components/links';
import { visuallyHidden } from '../../../components/visuallyHidden';
import { describeCron } from './cron';
import { ScheduleDialog } from './ScheduleDialog';

const HEADING_ID = 'schedules-heading';

/** Where focus goes when the element that had it is gone (a deleted schedule's card). */
const listHeading = () => document.getElementById(HEADING_ID);

function NextRun({ schedule }: { schedule: ScheduleOut }) {
  if (!schedule.enabled) return <>Paused: no runs until it is enabled again.</>;
  if (!schedule.next_run_at) return <>—</>;
  const ownZone = schedule.timezone !== localTimeZone();
  return (
    <>
      <time dateTime={schedule.next_run_at}>{formatDateTimeZone(schedule.next_run_at)}</time> ({formatRelative(schedule.next_run_at)})
      {ownZone && (
        <Typography component="span" variant="body2" color="text.secondary">
          {' '}
          — {formatDateTimeZone(schedule.next_run_at, schedule.timezone)} in {schedule.timezone}
        </Typography>
      )}
    </>
  );
}

function ScheduleCard({
  schedule,
  mayChange,
  onEdit,
  onDelete,
  announce,
}: {
  schedule: ScheduleOut;
  mayChange: boolean;
  onEdit: () => void;
  onDelete: () => void;
  announce: (message: string) => void;
}) {
  const headingId = useId();
  const update = useUpdateSchedule();
  const described = describeCron(schedule.cron);
  return (
    <Paper variant="outlined" component="article" aria-labelledby={headingId} sx={{ p: 2, mb: 2 }}>
      <Stack direction={{ xs: 'column', sm: 'row' }} sx={{ justifyContent: 'space-between', gap: 1 }}>
        <Box sx={{ minWidth: 0 }}>
          <Stack direction="row" sx={{ alignItems: 'center', gap: 1, flexWrap: 'wrap' }}>
            <Typography variant="h3" id={headingId} sx={{ overflowWrap: 'anywhere' }}>
              {schedule.name}
            </Typography>
            {!schedule.enabled && <Chip size="small" label="Paused" />}
          </Stack>
          <Typography variant="body2" sx={{ mt: 0.5 }}>
            <Box component="code" sx={{ fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' }}>
              {schedule.cron}
            </Box>{' '}
            in {schedule.timezone}
            {described && ` — ${described}`}
          </Typography>
        </Box>
        <FormControlLabel
          control={
            <Switch
              checked={schedule.enabled}
              disabled={!mayChange || update.isPending}
              onChange={(event) => {
                const enabled = event.target.checked;
                update.mutate(
                  { id: schedule.id, body: { enabled } },
                  { onSuccess: (saved) => announce(`${saved.name} ${saved.enabled ? 'enabled' : 'paused'}.`) },
                );
              }}
            />
          }
          label="Enabled"
        />
      </Stack>
      <Box
        component="dl"
        sx={{ display: 'grid', gridTemplateColumns: { xs: '1fr', sm: 'max-content 1fr' }, columnGap: 2, rowGap: 0.5, my: 1.5, '& dt': { fontWeight: 600 }, '& dd': { m: 0 } }}
      >
        <dt>Next run</dt>
        <dd>
          <NextRun schedule={schedule} />
        </dd>
        <dt>Last run</dt>
        <dd>
          {schedule.last_run_at ? (
            <>
              <Time value={schedule.last_run_at} />
              {schedule.last_task_id && (
                <>
                  {' — '}
                  <RouterLink to="/tasks/$taskId" params={{ taskId: schedule.last_task_id }} underline="always">
                    open its task
                  </RouterLink>
                </>
              )}
            </>
          ) : (
            'Not run yet.'
          )}
        </dd>
        {schedule.priority !== 0 && (
          <>
            <dt>Priority</dt>
            <dd>{schedule.priority}</dd>
          </>
        )}
        <dt>Input</dt>
        <dd>
          <Box component="code" sx={{ fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', fontSize: '0.8125rem', overflowWrap: 'anywhere' }}>
            {JSON.stringify(schedule.input)}
          </Box>
        </dd>
      </Box>
      {schedule.last_error && (
        <Alert severity="error" role="note" sx={{ mb: 1 }}>
          The last run could not be started: {schedule.last_error}
        </Alert>
      )}
      {update.isError && (
        <Alert severity="error" role="alert" sx={{ mb: 1 }}>
          {update.error.message}
        </Alert>
      )}
      {mayChange ? (
        <Stack direction="row" spacing={1}>
          <Button size="small" onClick={onEdit} aria-label={`Edit ${schedule.name}`}>
            Edit
          </Button>
          <Button size="small" color="error" onClick={onDelete} aria-label={`Delete ${schedule.name}`}>
            Delete
          </Button>
        </Stack>
      ) : (
        <Typography variant="body2" color="text.secondary">
          Only its creator or an agent manager can change it.
        </Typography>
      )}
    </Paper>
  );
}

/** An agent's cron schedules: runs started on a cron expression, on behalf of whoever made the schedule. */
export function SchedulesPanel({ agent }: { agent: AgentOut }) {
  const { can, me } = usePermissions();
  const schedules = useQuery(scheduleQueries.list(agent.id));
  const remove = useDeleteSchedule();
  const [editing, setEditing] = useState<ScheduleOut | 'new' | null>(null);
  // The schedule asked about stays set while the dialog closes (its title must not change as it fades out).
  const [deleting, setDeleting] = useState<ScheduleOut | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [announcement, setAnnouncement] = useState('');
  const mayCreate = can('agents:write');
  const mayChange = (schedule: ScheduleOut) => can('agents:manage') || (can('agents:write') && schedule.created_by_id === me.id);

  return (
    <>
      <Stack direction={{ xs: 'column', sm: 'row' }} sx={{ justifyContent: 'space-between', alignItems: { sm: 'center' }, gap: 1, mb: 1 }}>
        <Box>
          <Typography variant="h2" id={HEADING_ID} tabIndex={-1} sx={{ outline: 'none' }}>
            Schedules
          </Typography>
          <Typography color="text.secondary">Runs of this agent started on a cron expression, on behalf of whoever made the schedule.</Typography>
        </Box>
        {mayCreate && (
          <Button variant="contained" startIcon={<AddIcon />} onClick={() => setEditing('new')} sx={{ flexShrink: 0 }}>
            New schedule
          </Button>
        )}
      </Stack>
      <Box role="status" sx={visuallyHidden}>
        {announcement}
      </Box>
      {schedules.isPending ? (
        <LoadingState label="Loading schedules…" />
      ) : schedules.isError ? (
        <ErrorState error={schedules.error} onRetry={() => void schedules.refetch()} />
      ) : schedules.data.length === 0 ? (
        <EmptyState
          title="No schedules"
          description={mayCreate ? 'Add one to run this agent every hour, every weekday morning, or on any cron expression.' : 'Nobody has scheduled this agent.'}
        />
      ) : (
        schedules.data.map((schedule) => (
          <ScheduleCard
            key={schedule.id}
            schedule={schedule}
            mayChange={mayChange(schedule)}
            onEdit={() => setEditing(schedule)}
            onDelete={() => {
              setDeleting(schedule);
              setConfirming(true);
            }}
            announce={setAnnouncement}
          />
        ))
      )}

      {editing !== null && (
        <ScheduleDialog
          key={editing === 'new' ? 'new' : editing.id}
          agent={agent}
          schedule={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(null)}
          onSaved={(saved, created) => {
            setEditing(null);
            setAnnouncement(created ? `Schedule ${saved.name} created.` : `Schedule ${saved.name} saved.`);
          }}
        />
      )}
      <ConfirmDialog
        open={confirming}
        title={`Delete ${deleting?.name ?? 'this schedule'}?`}
        confirmLabel="Delete schedule"
        destructive
        fallbackFocus={listHeading}
        pending={remove.isPending}
        error={remove.error}
        onClose={() => {
          setConfirming(false);
          remove.reset();
        }}
        onConfirm={() => {
          if (!deleting) return;
          const { id, name } = deleting;
          remove.mutate(id, {
            onSuccess: () => {
              setConfirming(false);
              setAnnouncement(`Schedule ${name} deleted.`);
            },
          });
        }}
      >
        It starts no more runs. Tasks it already started are kept.
      </ConfirmDialog>
    </>
  );
}
