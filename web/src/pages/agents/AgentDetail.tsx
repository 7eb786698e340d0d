import DeleteIcon from '@mui/icons-material/Delete';
import EditIcon from '@mui/icons-material/Edit';
import FileDownloadIcon from '@mui/icons-material/FileDownload';
import PlayArrowIcon from '@mui/icons-material/PlayArrow';
import { Box, Button, Chip, Menu, MenuItem, Stack, Tab, Tabs, Typography } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useNavigate, useParams, useSearch } from '@tanstack/react-router';
import { useId, useState } from 'react';
import { api } from '../../api/client';
import { toApiError } from '../../api/errors';
import { agentQueries, useDeleteAgent } from '../../api/queries/agents';
import { useCreateTask } from '../../api/queries/tasks';
import type { AgentOut } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { PageHeader } from '../../components/PageHeader';
import { ErrorState, LoadingState } from '../../components/States';
import { Time } from '../../components/Time';
import { randomId } from '../../components/format';
import { ButtonLink, RouterLink } from '../../components/links';
import { AgentConfig } from './AgentConfig';
import { RunDialog } from './RunDialog';
import { SchedulesPanel } from './schedules/SchedulesPanel';
import { VersionsPanel } from './VersionsPanel';
import { WebhooksPanel } from './WebhooksPanel';

async function download(agent: AgentOut, format: 'json' | 'yaml') {
  const { data, error, response } = await api.GET('/v1/agents/{agent_id}/export', {
    params: { path: { agent_id: agent.id }, query: { format } },
    parseAs: 'blob',
  });
  if (!response.ok || !data) throw toApiError(response.status, error);
  const url = URL.createObjectURL(data);
  const link = document.createElement('a');
  link.href = url;
  link.download = `${agent.name.replace(/[^A-Za-z0-9_.-]+/g, '-') || 'agent'}.agent.${format}`;
  link.click();
  URL.revokeObjectURL(url);
}

export function AgentDetail() {
  const { agentId } = useParams({ from: '/app/agents/$agentId' });
  const { tab: requestedTab = 'config' } = useSearch({ from: '/app/agents/$agentId' });
  const navigate = useNavigate();
  const { can, me } = usePermissions();
  const agent = useQuery(agentQueries.detail(agentId));
  const createTask = useCreateTask();
  const remove = useDeleteAgent();
  const [running, setRunning] = useState(false);
  const [runKey, setRunKey] = useState(0);
  const [idempotencyKey, setIdempotencyKey] = useState('');
  const [deleting, setDeleting] = useState(false);
  const [exportAnchor, setExportAnchor] = useState<HTMLElement | null>(null);
  const [exportError, setExportError] = useState<unknown>(null);
  const menuId = useId();

  if (agent.isPending) {
    // The heading is there from the start: focus lands on it after navigating, and stays as the name arrives.
    return (
      <>
        <PageHeader title="Agent" before={<RouterLink to="/agents" search={{ q: undefined }}>← Agents</RouterLink>} />
        <LoadingState label="Loading the agent…" />
      </>
    );
  }
  if (agent.isError) {
    return (
      <>
        <PageHeader title="Agent" before={<RouterLink to="/agents" search={{ q: undefined }}>← Agents</RouterLink>} />
        <ErrorState error={agent.error} onRetry={() => void agent.refetch()} />
      </>
    );
  }
  const data = agent.data;
  const mayEdit = can('agents:manage') || (can('agents:write') && data.owner_id === me.id);
  const tab = requestedTab === 'webhooks' && !mayEdit ? 'config' : requestedTab;

  return (
    <>
      <PageHeader
        title={data.name}
        description={data.description || undefined}
        before={<RouterLink to="/agents" search={{ q: undefined }}>← Agents</RouterLink>}
        actions={
          <>
            {can('tasks:run') && (
              <Button
                variant="contained"
                startIcon={<PlayArrowIcon />}
                onClick={() => {
                  setRunKey((key) => key + 1);
                  setIdempotencyKey(randomId());
                  setRunning(true);
                }}
              >
                Run
              </Button>
            )}
            {mayEdit && (
              <ButtonLink to="/agents/$agentId/edit" params={{ agentId }} variant="outlined" startIcon={<EditIcon />}>
                Edit
              </ButtonLink>
            )}
            <Button
              variant="outlined"
              startIcon={<FileDownloadIcon />}
              aria-haspopup="menu"
              aria-controls={exportAnchor ? menuId : undefined}
              aria-expanded={exportAnchor ? true : undefined}
              onClick={(event) => setExportAnchor(event.currentTarget)}
            >
              Export
            </Button>
            {mayEdit && (
              <Button color="error" startIcon={<DeleteIcon />} onClick={() => setDeleting(true)}>
                Delete
              </Button>
            )}
          </>
        }
      />
      <Menu id={menuId} anchorEl={exportAnchor} open={exportAnchor !== null} onClose={() => setExportAnchor(null)}>
        {(['json', 'yaml'] as const).map((format) => (
          <MenuItem
            key={format}
            onClick={() => {
              setExportAnchor(null);
              setExportError(null);
              download(data, format).catch(setExportError);
            }}
          >
            Download {format.toUpperCase()}
          </MenuItem>
        ))}
      </Menu>
      {exportError != null && <ErrorState error={exportError} title="The export failed" />}
      <Stack direction="row" sx={{ gap: 1, flexWrap: 'wrap', mb: 2, alignItems: 'center' }}>
        <Chip size="small" label={`version ${data.latest_version}`} />
        <Chip size="small" variant="outlined" label={data.visibility === 'org' ? 'Visible to the organisation' : 'Private'} />
        <Typography variant="body2" color="text.secondary">
          Updated <Time value={data.updated_at} />
        </Typography>
        <RouterLink to="/tasks" search={{ agent_id: agentId, state: undefined }} variant="body2">
          See its tasks
        </RouterLink>
      </Stack>
      <Tabs
        value={tab}
        onChange={(_event, value: 'config' | 'versions' | 'webhooks' | 'schedules') =>
          void navigate({ to: '/agents/$agentId', params: { agentId }, search: { tab: value === 'config' ? undefined : value }, replace: true })
        }
        aria-label="Agent details"
        variant="scrollable"
        scrollButtons="auto"
        allowScrollButtonsMobile
        sx={{ borderBottom: 1, borderColor: 'divider', mb: 2 }}
      >
        <Tab label="Configuration" value="config" id="tab-config" aria-controls="panel-config" />
        <Tab label="Versions" value="versions" id="tab-versions" aria-controls="panel-versions" />
        <Tab label="Schedules" value="schedules" id="tab-schedules" aria-controls="panel-schedules" />
        {mayEdit && <Tab label="Webhooks" value="webhooks" id="tab-webhooks" aria-controls="panel-webhooks" />}
      </Tabs>
      <Box role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'versions' ? (
          <VersionsPanel agent={data} />
        ) : tab === 'webhooks' ? (
          <WebhooksPanel agentId={data.id} />
        ) : tab === 'schedules' ? (
          <SchedulesPanel agent={data} />
        ) : (
          <AgentConfig agent={data} />
        )}
      </Box>

      {running && (
        <RunDialog
          key={runKey}
          open
          title={`Run ${data.name}`}
          submitLabel="Start run"
          inputSchema={data.input_schema}
          withPriority
          pending={createTask.isPending}
          onClose={() => setRunning(false)}
          onSubmit={({ input, priority, files }, callbacks) =>
            createTask.mutate(
              // The key makes a double submit (or a retried request) start one task, not two.
              { body: { agent_id: data.id, input, priority, ...(files.length ? { files } : {}) }, idempotencyKey },
              {
                onSuccess: (task) => void navigate({ to: '/tasks/$taskId', params: { taskId: task.id } }),
                onError: callbacks.onError,
              },
            )
          }
        />
      )}
      <ConfirmDialog
        open={deleting}
        title={`Delete ${data.name}?`}
        confirmLabel="Delete agent"
        destructive
        pending={remove.isPending}
        error={remove.error}
        onClose={() => {
          setDeleting(false);
          remove.reset();
        }}
        onConfirm={() => remove.mutate(data.id, { onSuccess: () => void navigate({ to: '/agents', search: { q: undefined } }) })}
      >
        It can no longer run and its schedules stop. Its tasks and versions are kept for the record.
      </ConfirmDialog>
    </>
  );
}
