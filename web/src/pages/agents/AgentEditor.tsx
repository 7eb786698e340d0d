import {
  Alert,
  Box,
  Button,
  FormControl,
  FormControlLabel,
  FormLabel,
  Grid,
  Paper,
  Radio,
  RadioGroup,
  Stack,
  TextField,
  Typography,
  useMediaQuery,
  useTheme,
} from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useBlocker, useNavigate, useParams } from '@tanstack/react-router';
import { useCallback, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { agentQueries, useCreateAgent, useUpdateAgent } from '../../api/queries/agents';
import { toolQueries } from '../../api/queries/tools';
import type { AgentOut, AgentVisibility } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorSummary } from '../../components/ErrorSummary';
import { PageHeader } from '../../components/PageHeader';
import { ErrorState, LoadingState, NoAccess } from '../../components/States';
import { RouterLink } from '../../components/links';
import { fieldId, useFormErrors } from '../../components/useFormErrors';
import { draftFromAgent, emptyDraft, toAgentBody, type AgentDraft } from './editor/draft';
import { ModelSection } from './editor/ModelSection';
import { PoliciesSection } from './editor/PoliciesSection';
import { PromptSection } from './editor/PromptSection';
import { RenderPreview } from './editor/RenderPreview';
import { ToolsSection } from './editor/ToolsSection';
import { describePath } from './editor/types';
import { useDraftPreview } from './editor/useDraftPreview';
import { defaultProvider, useProviderAvailability } from './editor/providers';

function Section({ id, title, description, children }: { id: string; title: string; description?: string; children: ReactNode }) {
  return (
    <Paper variant="outlined" component="section" aria-labelledby={id} sx={{ p: { xs: 2, sm: 3 }, mb: 3 }}>
      <Typography variant="h2" id={id} gutterBottom>
        {title}
      </Typography>
      {description && (
        <Typography color="text.secondary" sx={{ mb: 1 }}>
          {description}
        </Typography>
      )}
      {children}
    </Paper>
  );
}

interface AgentFormProps {
  initial: AgentDraft;
  agent?: AgentOut;
  submitLabel: string;
  pending: boolean;
  onSubmit: (body: NonNullable<ReturnType<typeof toAgentBody>['body']>, done: () => void, fail: (error: unknown) => void) => void;
  saved?: string | null;
}

function AgentForm({ initial, agent, submitLabel, pending, onSubmit, saved }: AgentFormProps) {
  const [draft, setDraft] = useState(initial);
  const [dirty, setDirtyState] = useState(false);
  // Read by the navigation blocker at navigation time (a render's `dirty` may be stale by then).
  const dirtyRef = useRef(false);
  const setDirty = useCallback((value: boolean) => {
    dirtyRef.current = value;
    setDirtyState(value);
  }, []);
  const form = useFormErrors();
  const navigate = useNavigate();
  const preview = useDraftPreview(draft);
  // Beside the form on wide screens; on narrower ones right after the prompt, where the templates are edited.
  const theme = useTheme();
  const wide = useMediaQuery(theme.breakpoints.up('lg'), { noSsr: true });
  const previewPanel = <RenderPreview preview={preview} />;
  // Tool configs are checked against the schemas the server declares (when it could be asked).
  const catalogue = useQuery(toolQueries.list());

  const update = useCallback(
    (change: (draft: AgentDraft) => AgentDraft) => {
      setDraft(change);
      setDirty(true);
    },
    [setDirty],
  );

  const blocker = useBlocker({ shouldBlockFn: () => dirtyRef.current, enableBeforeUnload: () => dirtyRef.current, withResolver: true });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const { body, errors } = toAgentBody(draft, catalogue.data);
    if (form.invalid(errors) || !body) return;
    form.reset();
    onSubmit(
      body,
      () => setDirty(false),
      (error) => form.fail(error),
    );
  };

  const labels = Object.fromEntries(Object.keys(form.errors).map((path) => [path, describePath(path)]));
  const sectionProps = { draft, update, errors: form.errors };

  const fields = (
    <>
      <Section id="basics-heading" title="Basics">
        <TextField
          id={fieldId('name')}
          label="Name"
          required
          value={draft.name}
          onChange={(event) => update((d) => ({ ...d, name: event.target.value }))}
          error={Boolean(form.errors.name)}
          helperText={form.errors.name}
        />
        <TextField
          id={fieldId('description')}
          label="Description"
          multiline
          minRows={2}
          value={draft.description}
          onChange={(event) => update((d) => ({ ...d, description: event.target.value }))}
          error={Boolean(form.errors.description)}
          helperText={form.errors.description ?? 'What it does, for your colleagues.'}
        />
        <FormControl sx={{ mt: 1 }}>
          <FormLabel id="visibility-label">Who can see and run it</FormLabel>
          <RadioGroup
            row
            aria-labelledby="visibility-label"
            value={draft.visibility}
            onChange={(event) => update((d) => ({ ...d, visibility: event.target.value as AgentVisibility }))}
          >
            <FormControlLabel value="org" control={<Radio />} label="Everyone in the organisation" />
            <FormControlLabel value="private" control={<Radio />} label="Only me (and admins)" />
          </RadioGroup>
        </FormControl>
      </Section>
      <Section id="model-heading" title="Model">
        <ModelSection {...sectionProps} />
      </Section>
      <Section id="prompt-heading" title="Prompt">
        <PromptSection {...sectionProps} live={preview.liveErrors} />
      </Section>
      {!wide && <Box sx={{ mb: 3 }}>{previewPanel}</Box>}
      <Section id="tools-heading" title="Tools" description="What the agent may call, how it is configured, and which calls need a person’s approval.">
        <ToolsSection {...sectionProps} />
      </Section>
      <Section id="policies-heading" title="Run policies">
        <PoliciesSection {...sectionProps} />
      </Section>
    </>
  );

  return (
    <Box component="form" noValidate onSubmit={submit} aria-label={submitLabel}>
      {saved && !dirty && (
        <Alert severity="success" role="status" sx={{ mb: 2 }}>
          {saved}
        </Alert>
      )}
      {form.formError && Object.keys(form.errors).length === 0 && (
        <Alert severity="error" role="alert" sx={{ mb: 2 }}>
          {form.formError}
        </Alert>
      )}
      <ErrorSummary errors={form.errors} labels={labels} title={form.formError ?? 'Please correct these fields'} />
      {wide ? (
        <Grid container spacing={3}>
          <Grid size={7}>{fields}</Grid>
          <Grid size={5}>
            <Box sx={{ position: 'sticky', top: 80, maxHeight: 'calc(100vh - 96px)', overflowY: 'auto', mb: 3 }}>{previewPanel}</Box>
          </Grid>
        </Grid>
      ) : (
        fields
      )}
      <Stack
        direction="row"
        spacing={1}
        sx={{ position: 'sticky', bottom: 0, py: 2, bgcolor: 'background.default', borderTop: 1, borderColor: 'divider', zIndex: 1 }}
      >
        <Button type="submit" variant="contained" loading={pending}>
          {submitLabel}
        </Button>
        <Button
          onClick={() =>
            void (agent ? navigate({ to: '/agents/$agentId', params: { agentId: agent.id }, search: { tab: undefined } }) : navigate({ to: '/agents', search: { q: undefined } }))
          }
        >
          Cancel
        </Button>
      </Stack>
      <ConfirmDialog
        open={blocker.status === 'blocked'}
        title="Leave without saving?"
        confirmLabel="Leave"
        destructive
        onConfirm={() => blocker.proceed?.()}
        onClose={() => blocker.reset?.()}
      >
        Your changes to this agent are not saved.
      </ConfirmDialog>
    </Box>
  );
}

export function AgentCreatePage() {
  const { can } = usePermissions();
  const create = useCreateAgent();
  const navigate = useNavigate();
  // A new agent starts on a provider that works here (the offline mock when the server has no key), so its
  // first run does not die with provider_not_configured.
  const providers = useProviderAvailability();
  const [initial, setInitial] = useState<AgentDraft | null>(null);
  if (initial === null && !providers.pending) setInitial(emptyDraft(defaultProvider(providers.usable)));
  return (
    <>
      <PageHeader title="New agent" before={<RouterLink to="/agents" search={{ q: undefined }}>← Agents</RouterLink>} />
      {!can('agents:write') ? (
        <NoAccess what="create agents" />
      ) : initial === null ? (
        <LoadingState label="Loading the editor…" />
      ) : (
        <AgentForm
          initial={initial}
          submitLabel="Create agent"
          pending={create.isPending}
          onSubmit={(body, done, fail) =>
            create.mutate(body, {
              onSuccess: (agent) => {
                done();
                void navigate({ to: '/agents/$agentId', params: { agentId: agent.id }, search: { tab: undefined } });
              },
              onError: fail,
            })
          }
        />
      )}
    </>
  );
}

export function AgentEditPage() {
  const { agentId } = useParams({ from: '/app/agents/$agentId/edit' });
  const { can } = usePermissions();
  const agent = useQuery({ ...agentQueries.detail(agentId), enabled: can('agents:write') });
  const update = useUpdateAgent(agentId);
  const [saved, setSaved] = useState<string | null>(null);
  // The form starts from the agent as first loaded; later refetches must not overwrite what is being typed.
  const [initial, setInitial] = useState<AgentDraft | null>(null);
  if (agent.data && initial === null) setInitial(draftFromAgent(agent.data));

  const title = agent.data ? `Edit ${agent.data.name}` : 'Edit agent';
  return (
    <>
      <PageHeader
        title={title}
        before={
          <RouterLink to="/agents/$agentId" params={{ agentId }} search={{ tab: undefined }}>
            ← {agent.data?.name ?? 'Agent'}
          </RouterLink>
        }
      />
      {!can('agents:write') ? (
        <NoAccess what="edit agents" />
      ) : agent.isPending ? (
        <LoadingState label="Loading the agent…" />
      ) : agent.isError ? (
        <ErrorState error={agent.error} onRetry={() => void agent.refetch()} />
      ) : initial ? (
        <AgentForm
          initial={initial}
          agent={agent.data}
          submitLabel="Save changes"
          pending={update.isPending}
          saved={saved}
          onSubmit={(body, done, fail) =>
            update.mutate(body, {
              onSuccess: (updated) => {
                done();
                setSaved(
                  updated.latest_version === agent.data.latest_version
                    ? 'Nothing changed: no new version was made.'
                    : `Saved as version ${updated.latest_version}.`,
                );
              },
              onError: fail,
            })
          }
        />
      ) : null}
    </>
  );
}
