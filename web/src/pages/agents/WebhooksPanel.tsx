import AddIcon from '@mui/icons-material/Add';
import {
  Alert,
  Box,
  Button,
  Checkbox,
  Chip,
  Collapse,
  FormControl,
  FormControlLabel,
  FormGroup,
  FormHelperText,
  FormLabel,
  Paper,
  Stack,
  Switch,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { Fragment, useState, type FormEvent } from 'react';
import {
  useCreateWebhook,
  useDeleteWebhook,
  useRedeliver,
  useRotateWebhookSecret,
  useUpdateWebhook,
  webhookQueries,
} from '../../api/queries/webhooks';
import type { WebhookOut } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { FormAlert } from '../../components/FormAlert';
import { JsonView } from '../../components/JsonView';
import { LoadMore } from '../../components/LoadMore';
import { SecretDialog } from '../../components/SecretDialog';
import { StateChip } from '../../components/StateChip';
import { EmptyState, ErrorState, LoadingState } from '../../components/States';
import { Time } from '../../components/Time';
import { fieldId, useFormErrors, type Errors } from '../../components/useFormErrors';

type EventType = 'task.succeeded' | 'task.failed' | 'task.cancelled' | 'task.waiting_for_approval';
const EVENTS: { value: EventType; label: string }[] = [
  { value: 'task.succeeded', label: 'Task succeeded' },
  { value: 'task.failed', label: 'Task failed (or dead)' },
  { value: 'task.cancelled', label: 'Task cancelled' },
  { value: 'task.waiting_for_approval', label: 'Task waits for an approval' },
];

/** https, or http to this machine (the API allows that outside production). */
function urlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return 'Enter a full URL, e.g. https://example.com/hooks/agentic.';
  }
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && local)) return undefined;
  return 'Use an https:// URL.';
}

function AddWebhook({ agentId, onCreated }: { agentId: string; onCreated: (secret: string) => void }) {
  const create = useCreateWebhook(agentId);
  const form = useFormErrors();
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<EventType[]>(['task.succeeded', 'task.failed']);
  const [description, setDescription] = useState('');

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    const problem = urlProblem(url);
    if (problem) errors.url = problem;
    if (events.length === 0) errors.events = 'Choose at least one event.';
    if (form.invalid(errors, ['url', 'events'])) return;
    form.reset();
    create.mutate(
      { url: url.trim(), events, description: description.trim(), enabled: true },
      {
        onSuccess: (webhook) => {
          setUrl('');
          setDescription('');
          onCreated(webhook.secret);
        },
        onError: (error) => form.fail(error),
      },
    );
  };

  return (
    <Paper variant="outlined" component="form" noValidate onSubmit={submit} aria-label="Add a webhook" sx={{ p: 2, mb: 3 }}>
      <Typography variant="h3" component="h2" gutterBottom>
        Add a webhook
      </Typography>
      <FormAlert message={form.formError} />
      <TextField
        id={fieldId('url')}
        label="URL"
        required
        placeholder="https://example.com/hooks/agentic"
        value={url}
        onChange={(event) => {
          setUrl(event.target.value);
          form.clearField('url');
        }}
        error={Boolean(form.errors.url)}
        helperText={form.errors.url ?? 'Receives a signed POST (Standard Webhooks) for each chosen event.'}
      />
      <FormControl component="fieldset" error={Boolean(form.errors.events)} id={fieldId('events')} tabIndex={-1} sx={{ mt: 1 }}>
        <FormLabel component="legend">Events</FormLabel>
        <FormGroup row>
          {EVENTS.map((option) => (
            <FormControlLabel
              key={option.value}
              control={
                <Checkbox
                  checked={events.includes(option.value)}
                  onChange={(event) => {
                    form.clearField('events');
                    setEvents((current) => (event.target.checked ? [...current, option.value] : current.filter((item) => item !== option.value)));
                  }}
                />
              }
              label={option.label}
            />
          ))}
        </FormGroup>
        {form.errors.events && <FormHelperText>{form.errors.events}</FormHelperText>}
      </FormControl>
      <TextField id={fieldId('description')} label="Description (optional)" value={description} onChange={(event) => setDescription(event.target.value)} slotProps={{ htmlInput: { maxLength: 500 } }} />
      <Button type="submit" variant="contained" startIcon={<AddIcon />} loading={create.isPending} sx={{ mt: 1 }}>
        Add webhook
      </Button>
    </Paper>
  );
}

function DeliveryDetail({ agentId, webhookId, deliveryId }: { agentId: string; webhookId: string; deliveryId: string }) {
  const detail = useQuery(webhookQueries.delivery(agentId, webhookId, deliveryId));
  if (detail.isPending) return <LoadingState />;
  if (detail.isError) return <ErrorState error={detail.error} onRetry={() => void detail.refetch()} />;
  return (
    <Box sx={{ py: 1 }}>
      <Typography variant="body2" sx={{ fontWeight: 600 }}>
        Attempts
      </Typography>
      {detail.data.attempt_log.length === 0 ? (
        <Typography variant="body2">None yet.</Typography>
      ) : (
        <Box component="ul" sx={{ m: 0, pl: 2.5 }}>
          {detail.data.attempt_log.map((attempt) => (
            <Typography component="li" variant="body2" key={attempt.number}>
              #{attempt.number} <Time value={attempt.started_at} /> — {attempt.status_code ?? 'no answer'} in {attempt.duration_ms} ms
              {attempt.error ? ` — ${attempt.error}` : ''}
            </Typography>
          ))}
        </Box>
      )}
      <Typography variant="body2" sx={{ fontWeight: 600, mt: 1 }}>
        Payload
      </Typography>
      <JsonView value={detail.data.payload} label="Delivery payload" maxHeight={200} />
    </Box>
  );
}

function Deliveries({ agentId, webhookId }: { agentId: string; webhookId: string }) {
  const deliveries = useInfiniteQuery(webhookQueries.deliveries(agentId, webhookId));
  const redeliver = useRedeliver(agentId, webhookId);
  const [open, setOpen] = useState<string | null>(null);
  if (deliveries.isPending) return <LoadingState label="Loading deliveries…" />;
  if (deliveries.isError) return <ErrorState error={deliveries.error} onRetry={() => void deliveries.refetch()} />;
  const items = deliveries.data.pages.flatMap((page) => page.items);
  if (items.length === 0) return <Typography color="text.secondary">Nothing delivered yet.</Typography>;
  return (
    <>
      {redeliver.isError && (
        <Alert severity="error" role="alert" sx={{ mb: 1 }}>
          {redeliver.error.message}
        </Alert>
      )}
      <Table size="small" aria-label="Deliveries">
        <TableHead>
          <TableRow>
            <TableCell>Event</TableCell>
            <TableCell>Status</TableCell>
            <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Last answer</TableCell>
            <TableCell>When</TableCell>
            <TableCell align="right">Actions</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {items.map((delivery) => (
            <Fragment key={delivery.id}>
              <TableRow>
                <TableCell sx={{ fontFamily: 'monospace' }}>{delivery.event_type}</TableCell>
                <TableCell>
                  <StateChip state={delivery.status} /> {delivery.attempts > 1 && <Typography component="span" variant="body2">×{delivery.attempts}</Typography>}
                </TableCell>
                <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' }, overflowWrap: 'anywhere' }}>
                  {delivery.last_status_code ?? delivery.last_error ?? '—'}
                </TableCell>
                <TableCell>
                  <Time value={delivery.created_at} />
                </TableCell>
                <TableCell align="right">
                  <Stack direction="row" spacing={1} sx={{ justifyContent: 'flex-end' }}>
                    <Button size="small" aria-expanded={open === delivery.id} onClick={() => setOpen(open === delivery.id ? null : delivery.id)}>
                      {open === delivery.id ? 'Hide' : 'Details'}
                    </Button>
                    {delivery.status !== 'pending' && (
                      <Button size="small" disabled={redeliver.isPending} onClick={() => redeliver.mutate(delivery.id)} aria-label={`Send ${delivery.event_type} again`}>
                        Redeliver
                      </Button>
                    )}
                  </Stack>
                </TableCell>
              </TableRow>
              <TableRow>
                <TableCell colSpan={5} sx={{ py: 0, borderBottom: open === delivery.id ? undefined : 'none' }}>
                  <Collapse in={open === delivery.id} unmountOnExit>
                    <DeliveryDetail agentId={agentId} webhookId={webhookId} deliveryId={delivery.id} />
                  </Collapse>
                </TableCell>
              </TableRow>
            </Fragment>
          ))}
        </TableBody>
      </Table>
      <LoadMore hasNextPage={deliveries.hasNextPage} isFetchingNextPage={deliveries.isFetchingNextPage} fetchNextPage={deliveries.fetchNextPage} />
    </>
  );
}

function WebhookCard({ webhook, onSecret }: { webhook: WebhookOut; onSecret: (secret: string) => void }) {
  const update = useUpdateWebhook(webhook.agent_id);
  const rotate = useRotateWebhookSecret(webhook.agent_id);
  const remove = useDeleteWebhook(webhook.agent_id);
  const [showDeliveries, setShowDeliveries] = useState(false);
  const [confirm, setConfirm] = useState<'rotate' | 'delete' | null>(null);
  return (
    <Paper variant="outlined" component="section" aria-label={`Webhook ${webhook.url}`} sx={{ p: 2, mb: 2 }}>
      <Stack direction={{ xs: 'column', sm: 'row' }} sx={{ justifyContent: 'space-between', gap: 1 }}>
        <Box sx={{ minWidth: 0 }}>
          <Typography sx={{ fontFamily: 'monospace', fontWeight: 600, overflowWrap: 'anywhere' }}>{webhook.url}</Typography>
          {webhook.description && <Typography color="text.secondary">{webhook.description}</Typography>}
          <Stack direction="row" sx={{ gap: 0.5, flexWrap: 'wrap', mt: 0.5 }}>
            {webhook.events.map((event) => (
              <Chip key={event} size="small" variant="outlined" label={event} />
            ))}
          </Stack>
        </Box>
        <FormControlLabel
          control={
            <Switch
              checked={webhook.enabled}
              disabled={update.isPending}
              onChange={(event) => update.mutate({ webhookId: webhook.id, body: { enabled: event.target.checked } })}
            />
          }
          label="Enabled"
        />
      </Stack>
      {update.isError && (
        <Alert severity="error" role="alert" sx={{ mt: 1 }}>
          {update.error.message}
        </Alert>
      )}
      <Stack direction="row" spacing={1} sx={{ mt: 1, flexWrap: 'wrap' }}>
        <Button size="small" aria-expanded={showDeliveries} onClick={() => setShowDeliveries((value) => !value)}>
          {showDeliveries ? 'Hide deliveries' : 'Deliveries'}
        </Button>
        <Button size="small" onClick={() => setConfirm('rotate')}>
          Rotate secret
        </Button>
        <Button size="small" color="error" onClick={() => setConfirm('delete')}>
          Delete
        </Button>
      </Stack>
      <Collapse in={showDeliveries} unmountOnExit>
        <Box sx={{ mt: 1 }}>
          <Deliveries agentId={webhook.agent_id} webhookId={webhook.id} />
        </Box>
      </Collapse>
      <ConfirmDialog
        open={confirm === 'rotate'}
        title="Rotate the signing secret?"
        confirmLabel="Rotate secret"
        pending={rotate.isPending}
        error={rotate.error}
        onClose={() => {
          setConfirm(null);
          rotate.reset();
        }}
        onConfirm={() =>
          rotate.mutate(webhook.id, {
            onSuccess: (rotated) => {
              setConfirm(null);
              onSecret(rotated.secret);
            },
          })
        }
      >
        Messages are signed with the new secret from now on: update the receiver.
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm === 'delete'}
        title="Delete this webhook?"
        confirmLabel="Delete webhook"
        destructive
        pending={remove.isPending}
        error={remove.error}
        onClose={() => {
          setConfirm(null);
          remove.reset();
        }}
        onConfirm={() => remove.mutate(webhook.id, { onSuccess: () => setConfirm(null) })}
      >
        No more messages are sent to {webhook.url}, and its delivery log is deleted.
      </ConfirmDialog>
    </Paper>
  );
}

/** The agent's webhooks: signed task notifications to other systems, with their delivery log. */
export function WebhooksPanel({ agentId }: { agentId: string }) {
  const webhooks = useQuery(webhookQueries.list(agentId));
  const [secret, setSecret] = useState<string | null>(null);
  return (
    <>
      <AddWebhook agentId={agentId} onCreated={setSecret} />
      {webhooks.isPending ? (
        <LoadingState label="Loading webhooks…" />
      ) : webhooks.isError ? (
        <ErrorState error={webhooks.error} onRetry={() => void webhooks.refetch()} />
      ) : webhooks.data.length === 0 ? (
        <EmptyState title="No webhooks" description="Add one to tell another system when this agent’s tasks finish or wait for approval." />
      ) : (
        webhooks.data.map((webhook) => <WebhookCard key={webhook.id} webhook={webhook} onSecret={setSecret} />)
      )}
      <SecretDialog secret={secret} title="Copy the signing secret" label="Signing secret" onClose={() => setSecret(null)} />
    </>
  );
}
