import AddIcon from '@mui/icons-material/Add';
import {
  Box,
  Button,
  Checkbox,
  Chip,
  Dialog,
  DialogActions,
  DialogContent,
  DialogContentText,
  DialogTitle,
  FormControl,
  FormControlLabel,
  FormGroup,
  FormHelperText,
  FormLabel,
  MenuItem,
  Paper,
  Stack,
  Switch,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  TextField,
  Typography,
  useMediaQuery,
  useTheme,
} from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { apiKeyQueries, useCreateApiKey, useRevokeApiKey, useRotateApiKey } from '../../api/queries/apiKeys';
import type { ApiKeyCreated, ApiKeyOut, Scope } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { SecretDialog } from '../../components/SecretDialog';
import { FormAlert } from '../../components/FormAlert';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState, ErrorState, LoadingState, NoAccess } from '../../components/States';
import { Time } from '../../components/Time';
import { formatDateTime, shortId } from '../../components/format';
import { fieldId, useFormErrors, type Errors } from '../../components/useFormErrors';

const SCOPES: { value: Scope; label: string; help: string }[] = [
  { value: 'agents:read', label: 'Read agents', help: 'List and read agents.' },
  { value: 'agents:write', label: 'Write agents', help: 'Create agents and change one’s own.' },
  { value: 'tasks:run', label: 'Run tasks', help: 'Start, cancel, retry and signal tasks; read one’s own.' },
  { value: 'tasks:read', label: 'Read all tasks', help: 'Read every task and queue health.' },
  { value: 'admin', label: 'Admin', help: 'Everything the creator’s role allows.' },
];

const EXPIRY = [
  { value: 'never', label: 'Never' },
  { value: '30', label: 'In 30 days' },
  { value: '90', label: 'In 90 days' },
  { value: '365', label: 'In a year' },
  { value: 'custom', label: 'On a date…' },
];

type Status = { label: string; color: 'success' | 'default' | 'warning' | 'error' };

export function keyStatus(key: ApiKeyOut, keys: ApiKeyOut[], now = Date.now()): Status {
  if (key.revoked_at) return { label: 'revoked', color: 'default' };
  const expires = key.expires_at ? new Date(key.expires_at).getTime() : null;
  if (expires !== null && expires <= now) return { label: 'expired', color: 'default' };
  if (keys.some((other) => other.rotated_from_id === key.id)) return { label: 'retiring', color: 'warning' };
  if (expires !== null && expires - now < 7 * 86_400_000) return { label: 'expires soon', color: 'warning' };
  return { label: 'active', color: 'success' };
}

const isActive = (status: Status) => status.label !== 'revoked' && status.label !== 'expired';

function CreateKeyDialog({ open, isAdmin, onClose, onCreated }: { open: boolean; isAdmin: boolean; onClose: () => void; onCreated: (key: ApiKeyCreated) => void }) {
  const theme = useTheme();
  const phone = useMediaQuery(theme.breakpoints.down('sm'));
  const titleId = useId();
  const create = useCreateApiKey();
  const form = useFormErrors();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['tasks:run']);
  const [expiry, setExpiry] = useState('90');
  const [date, setDate] = useState('');

  const close = () => {
    form.reset();
    create.reset();
    onClose();
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    if (!name.trim()) errors.name = 'Name the key after where it is used.';
    else if (name.trim().length > 100) errors.name = 'Use at most 100 characters.';
    if (scopes.length === 0) errors.scopes = 'Choose at least one scope.';
    let expiresAt: string | null = null;
    if (expiry === 'custom') {
      const when = date ? new Date(`${date}T23:59:59`) : null;
      if (!when || Number.isNaN(when.getTime())) errors.expires_at = 'Pick a date.';
      else if (when.getTime() <= Date.now()) errors.expires_at = 'Pick a date in the future.';
      else expiresAt = when.toISOString();
    } else if (expiry !== 'never') {
      expiresAt = new Date(Date.now() + Number(expiry) * 86_400_000).toISOString();
    }
    if (form.invalid(errors, ['name', 'scopes', 'expires_at'])) return;
    form.reset();
    create.mutate(
      { name: name.trim(), scopes, expires_at: expiresAt },
      {
        onSuccess: (key) => {
          setName('');
          setScopes(['tasks:run']);
          onCreated(key);
        },
        onError: (error) => form.fail(error),
      },
    );
  };

  return (
    <Dialog open={open} onClose={create.isPending ? undefined : close} aria-labelledby={titleId} fullWidth maxWidth="sm" fullScreen={phone}>
      <Box component="form" noValidate onSubmit={submit} aria-labelledby={titleId}>
        <DialogTitle id={titleId}>Create an API key</DialogTitle>
        <DialogContent>
          <FormAlert message={form.formError} />
          <TextField
            id={fieldId('name')}
            label="Name"
            required
            value={name}
            onChange={(event) => {
              setName(event.target.value);
              form.clearField('name');
            }}
            error={Boolean(form.errors.name)}
            helperText={form.errors.name ?? 'E.g. “CI deploys” or “Zapier”.'}
          />
          <FormControl component="fieldset" error={Boolean(form.errors.scopes)} sx={{ mt: 1 }} id={fieldId('scopes')} tabIndex={-1}>
            <FormLabel component="legend">Scopes</FormLabel>
            <FormGroup>
              {SCOPES.filter((scope) => isAdmin || scope.value !== 'admin').map((scope) => (
                <FormControlLabel
                  key={scope.value}
                  control={
                    <Checkbox
                      checked={scopes.includes(scope.value)}
                      onChange={(event) => {
                        form.clearField('scopes');
                        setScopes((current) => (event.target.checked ? [...current, scope.value] : current.filter((item) => item !== scope.value)));
                      }}
                    />
                  }
                  label={
                    <>
                      {scope.label}{' '}
                      <Typography component="span" variant="body2" color="text.secondary">
                        — {scope.help}
                      </Typography>
                    </>
                  }
                />
              ))}
            </FormGroup>
            <FormHelperText>{form.errors.scopes ?? 'A key can never do more than your role allows.'}</FormHelperText>
          </FormControl>
          <TextField select id={fieldId('expiry')} label="Expires" value={expiry} onChange={(event) => setExpiry(event.target.value)}>
            {EXPIRY.map((option) => (
              <MenuItem key={option.value} value={option.value}>
                {option.label}
              </MenuItem>
            ))}
          </TextField>
          {expiry === 'custom' && (
            <TextField
              id={fieldId('expires_at')}
              label="Expiry date"
              type="date"
              value={date}
              onChange={(event) => {
                setDate(event.target.value);
                form.clearField('expires_at');
              }}
              error={Boolean(form.errors.expires_at)}
              helperText={form.errors.expires_at ?? 'The key stops working at the end of that day.'}
              slotProps={{ inputLabel: { shrink: true } }}
            />
          )}
        </DialogContent>
        <DialogActions>
          <Button onClick={close} disabled={create.isPending}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" loading={create.isPending}>
            Create key
          </Button>
        </DialogActions>
      </Box>
    </Dialog>
  );
}

const GRACE = [
  { value: 0, label: 'Stop it now' },
  { value: 3600, label: 'For 1 hour' },
  { value: 86_400, label: 'For 24 hours' },
  { value: 7 * 86_400, label: 'For 7 days' },
];

export function ApiKeys() {
  const { can, me } = usePermissions();
  const keys = useQuery({ ...apiKeyQueries.list(), enabled: can('api_keys:own') });
  const rotate = useRotateApiKey();
  const revoke = useRevokeApiKey();
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<ApiKeyCreated | null>(null);
  const [rotating, setRotating] = useState<ApiKeyOut | null>(null);
  const [grace, setGrace] = useState(86_400);
  const [revoking, setRevoking] = useState<ApiKeyOut | null>(null);
  const [showInactive, setShowInactive] = useState(false);
  const isAdmin = me.organization?.role === 'admin';
  const seesAll = can('api_keys:manage');

  const all = keys.data ?? [];
  const rows = all.map((key) => ({ key, status: keyStatus(key, all) })).filter((row) => showInactive || isActive(row.status));
  const hiddenCount = all.length - all.filter((key) => isActive(keyStatus(key, all))).length;

  return (
    <>
      <PageHeader
        title="API keys"
        description={seesAll ? 'Every key of the organisation. Keys act as their creator, limited to their scopes.' : 'Your keys. A key acts as you, limited to its scopes.'}
        actions={
          can('api_keys:own') && (
            <Button variant="contained" startIcon={<AddIcon />} onClick={() => setCreating(true)}>
              Create key
            </Button>
          )
        }
      />
      {!can('api_keys:own') ? (
        <NoAccess what="manage API keys" />
      ) : keys.isPending ? (
        <LoadingState label="Loading keys…" />
      ) : keys.isError ? (
        <ErrorState error={keys.error} onRetry={() => void keys.refetch()} />
      ) : all.length === 0 ? (
        <EmptyState
          title="No API keys"
          description="Programs use API keys to call Agentic: run agents from CI, a backend or a workflow tool."
          action={
            <Button variant="contained" onClick={() => setCreating(true)}>
              Create your first key
            </Button>
          }
        />
      ) : (
        <>
          {hiddenCount > 0 && (
            <FormControlLabel
              control={<Switch checked={showInactive} onChange={(event) => setShowInactive(event.target.checked)} />}
              label={`Show revoked and expired keys (${hiddenCount})`}
            />
          )}
          <TableContainer component={Paper} variant="outlined">
            <Table aria-label="API keys">
              <TableHead>
                <TableRow>
                  <TableCell>Name</TableCell>
                  <TableCell>Scopes</TableCell>
                  <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Last used</TableCell>
                  <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Expires</TableCell>
                  <TableCell>Status</TableCell>
                  <TableCell align="right">Actions</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {rows.map(({ key, status }) => (
                  <TableRow key={key.id}>
                    <TableCell>
                      <Typography sx={{ fontWeight: 600 }}>{key.name}</Typography>
                      <Typography variant="body2" color="text.secondary" sx={{ fontFamily: 'monospace' }}>
                        {key.prefix}…
                      </Typography>
                      {seesAll && key.created_by_id !== me.id && (
                        <Typography variant="body2" color="text.secondary">
                          by {shortId(key.created_by_id)}
                        </Typography>
                      )}
                    </TableCell>
                    <TableCell>
                      <Stack direction="row" sx={{ flexWrap: 'wrap', gap: 0.5 }}>
                        {key.scopes.map((scope) => (
                          <Chip key={scope} size="small" variant="outlined" label={scope} />
                        ))}
                      </Stack>
                    </TableCell>
                    <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>{key.last_used_at ? <Time value={key.last_used_at} /> : 'Never'}</TableCell>
                    <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>{key.expires_at ? formatDateTime(key.expires_at) : 'Never'}</TableCell>
                    <TableCell>
                      <Chip size="small" color={status.color} label={status.label} />
                    </TableCell>
                    <TableCell align="right">
                      {isActive(status) && (
                        <Stack direction={{ xs: 'column', sm: 'row' }} spacing={1} sx={{ justifyContent: 'flex-end' }}>
                          {status.label !== 'retiring' && (
                            <Button size="small" onClick={() => setRotating(key)} aria-label={`Rotate ${key.name}`}>
                              Rotate
                            </Button>
                          )}
                          <Button size="small" color="error" onClick={() => setRevoking(key)} aria-label={`Revoke ${key.name}`}>
                            Revoke
                          </Button>
                        </Stack>
                      )}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </TableContainer>
        </>
      )}

      <CreateKeyDialog
        open={creating}
        isAdmin={isAdmin}
        onClose={() => setCreating(false)}
        onCreated={(key) => {
          setCreating(false);
          setSecret(key);
        }}
      />
      <SecretDialog secret={secret?.key ?? null} title="Copy your new API key" label={`Key “${secret?.name ?? ''}”`} onClose={() => setSecret(null)}>
        <DialogContentText sx={{ mt: 1 }}>
          Use it as <code>Authorization: Bearer {secret ? `${secret.prefix}…` : 'agk_…'}</code>.
        </DialogContentText>
      </SecretDialog>
      <ConfirmDialog
        open={rotating !== null}
        title={`Rotate “${rotating?.name ?? ''}”?`}
        confirmLabel="Rotate key"
        pending={rotate.isPending}
        error={rotate.error}
        onClose={() => {
          setRotating(null);
          rotate.reset();
        }}
        onConfirm={() =>
          rotating &&
          rotate.mutate(
            { id: rotating.id, graceSeconds: grace },
            {
              onSuccess: (key) => {
                setRotating(null);
                setSecret(key);
              },
            },
          )
        }
      >
        A new key with the same name, scopes and expiry replaces this one.
        <TextField select label="Keep the old key working" value={grace} onChange={(event) => setGrace(Number(event.target.value))}>
          {GRACE.map((option) => (
            <MenuItem key={option.value} value={option.value}>
              {option.label}
            </MenuItem>
          ))}
        </TextField>
      </ConfirmDialog>
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke “${revoking?.name ?? ''}”?`}
        confirmLabel="Revoke key"
        destructive
        pending={revoke.isPending}
        error={revoke.error}
        onClose={() => {
          setRevoking(null);
          revoke.reset();
        }}
        onConfirm={() => revoking && revoke.mutate(revoking.id, { onSuccess: () => setRevoking(null) })}
      >
        Programs using it are refused from now on. This cannot be undone.
      </ConfirmDialog>
    </>
  );
}
