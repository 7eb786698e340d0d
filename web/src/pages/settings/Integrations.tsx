import AddIcon from '@mui/icons-material/Add';
import {
  Alert,
  Box,
  Button,
  Chip,
  FormControlLabel,
  Grid,
  MenuItem,
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
import { useQuery, type UseMutationResult } from '@tanstack/react-query';
import { useState, type FormEvent, type ReactNode } from 'react';
import {
  integrationQueries,
  useCreateMcpServer,
  useCreateProvider,
  useCreateSqlConnection,
  useDeleteMcpServer,
  useDeleteProvider,
  useDeleteSqlConnection,
  useRefreshMcpServer,
  useUpdateMcpServer,
} from '../../api/queries/integrations';
import type { McpServerOut } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { FormAlert } from '../../components/FormAlert';
import { PageHeader } from '../../components/PageHeader';
import { ErrorState, LoadingState, NoAccess } from '../../components/States';
import { Time } from '../../components/Time';
import { useFormErrors, type Errors } from '../../components/useFormErrors';

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const NAME_HELP = 'What agents call it: lower-case letters, digits, - and _ (up to 32).';

function Section({ id, title, description, children }: { id: string; title: string; description: string; children: ReactNode }) {
  return (
    <Paper variant="outlined" component="section" aria-labelledby={id} sx={{ p: 2, mb: 3 }}>
      <Typography variant="h2" id={id}>
        {title}
      </Typography>
      <Typography color="text.secondary" sx={{ mb: 2 }}>
        {description}
      </Typography>
      {children}
    </Paper>
  );
}

/** Delete with confirmation, for any of the lists below. */
function DeleteButton({ name, what, mutation, id }: { name: string; what: string; id: string; mutation: UseMutationResult<unknown, Error, string> }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button size="small" color="error" onClick={() => setOpen(true)} aria-label={`Delete ${name}`}>
        Delete
      </Button>
      <ConfirmDialog
        open={open}
        title={`Delete ${name}?`}
        confirmLabel="Delete"
        destructive
        pending={mutation.isPending}
        error={mutation.error}
        onClose={() => {
          setOpen(false);
          mutation.reset();
        }}
        onConfirm={() => mutation.mutate(id, { onSuccess: () => setOpen(false) })}
      >
        {what}
      </ConfirmDialog>
    </>
  );
}

// ---- LLM providers --------------------------------------------------------------------------------------

function Providers() {
  const list = useQuery(integrationQueries.providers());
  const create = useCreateProvider();
  const remove = useDeleteProvider();
  const form = useFormErrors('provider-');
  const [provider, setProvider] = useState<'openai' | 'anthropic'>('openai');
  const [name, setName] = useState('default');
  const [apiKey, setApiKey] = useState('');
  const [baseUrl, setBaseUrl] = useState('');

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    if (!name.trim()) errors.name = 'Name it (agents do not see it; it tells keys apart).';
    if (!apiKey.trim()) errors.api_key = 'Paste the provider’s API key.';
    if (baseUrl.trim() && !/^https?:\/\//.test(baseUrl.trim())) errors.base_url = 'A full URL, e.g. https://llm.internal/v1.';
    if (form.invalid(errors)) return;
    form.reset();
    create.mutate(
      { provider, name: name.trim(), api_key: apiKey.trim(), base_url: baseUrl.trim() || null },
      {
        onSuccess: () => {
          setApiKey('');
          setBaseUrl('');
        },
        onError: (error) => form.fail(error),
      },
    );
  };

  return (
    <Section id="providers-heading" title="LLM providers" description="API keys agents use for OpenAI and Anthropic models (and OpenAI-compatible servers). Stored encrypted; never shown again.">
      {list.isPending ? (
        <LoadingState />
      ) : list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.length === 0 ? (
        <Typography sx={{ mb: 2 }}>No keys yet: only the mock provider (and any key set on the server) works.</Typography>
      ) : (
        <Table size="small" aria-label="Provider keys" sx={{ mb: 2 }}>
          <TableHead>
            <TableRow>
              <TableCell>Provider</TableCell>
              <TableCell>Name</TableCell>
              <TableCell>Key</TableCell>
              <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Base URL</TableCell>
              <TableCell align="right">Actions</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {list.data.map((credential) => (
              <TableRow key={credential.id}>
                <TableCell>{credential.provider}</TableCell>
                <TableCell>{credential.name}</TableCell>
                <TableCell sx={{ fontFamily: 'monospace' }}>…{credential.key_hint}</TableCell>
                <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' }, overflowWrap: 'anywhere' }}>{credential.base_url ?? '—'}</TableCell>
                <TableCell align="right">
                  <DeleteButton
                    name={`${credential.provider} key “${credential.name}”`}
                    id={credential.id}
                    mutation={remove}
                    what="Agents using this provider fail until another key is added."
                  />
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      <Box component="form" noValidate onSubmit={submit} aria-label="Add a provider key">
        <FormAlert message={form.formError} />
        <Grid container spacing={2}>
          <Grid size={{ xs: 12, sm: 4 }}>
            <TextField select id={form.id('provider')} label="Provider" margin="none" value={provider} onChange={(event) => setProvider(event.target.value as 'openai' | 'anthropic')}>
              <MenuItem value="openai">OpenAI (or compatible)</MenuItem>
              <MenuItem value="anthropic">Anthropic</MenuItem>
            </TextField>
          </Grid>
          <Grid size={{ xs: 12, sm: 8 }}>
            <TextField id={form.id('name')} label="Name" margin="none" value={name} onChange={(event) => setName(event.target.value)} error={Boolean(form.errors.name)} helperText={form.errors.name} />
          </Grid>
          <Grid size={12}>
            <TextField
              id={form.id('api_key')}
              label="API key"
              type="password"
              autoComplete="off"
              margin="none"
              value={apiKey}
              onChange={(event) => setApiKey(event.target.value)}
              error={Boolean(form.errors.api_key)}
              helperText={form.errors.api_key}
            />
          </Grid>
          <Grid size={12}>
            <TextField
              id={form.id('base_url')}
              label="Base URL (optional)"
              margin="none"
              value={baseUrl}
              onChange={(event) => setBaseUrl(event.target.value)}
              error={Boolean(form.errors.base_url)}
              helperText={form.errors.base_url ?? 'For OpenAI-compatible servers (vLLM, Ollama, Azure…).'}
            />
          </Grid>
        </Grid>
        <Button type="submit" variant="contained" startIcon={<AddIcon />} loading={create.isPending} sx={{ mt: 2 }}>
          Add key
        </Button>
      </Box>
    </Section>
  );
}

// ---- SQL connections ------------------------------------------------------------------------------------

function SqlConnections({ mayManage }: { mayManage: boolean }) {
  const list = useQuery(integrationQueries.sqlConnections());
  const create = useCreateSqlConnection();
  const remove = useDeleteSqlConnection();
  const form = useFormErrors('sql-');
  const [name, setName] = useState('');
  const [dsn, setDsn] = useState('');
  const [description, setDescription] = useState('');

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    if (!NAME.test(name.trim())) errors.name = NAME_HELP;
    if (!/^(postgres(ql)?|sqlite)(\+\w+)?:\/\//.test(dsn.trim())) errors.dsn = 'A postgresql://… or sqlite:///… connection string.';
    if (form.invalid(errors)) return;
    form.reset();
    create.mutate(
      { name: name.trim(), dsn: dsn.trim(), description: description.trim() },
      {
        onSuccess: () => {
          setName('');
          setDsn('');
          setDescription('');
        },
        onError: (error) => form.fail(error),
      },
    );
  };

  return (
    <Section id="sql-heading" title="SQL connections" description="Databases the sql_query tool may read (the database enforces read-only; use a role that can only SELECT).">
      {list.isPending ? (
        <LoadingState />
      ) : list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.length === 0 ? (
        <Typography sx={{ mb: 2 }}>No connections.</Typography>
      ) : (
        <Table size="small" aria-label="SQL connections" sx={{ mb: 2 }}>
          <TableHead>
            <TableRow>
              <TableCell>Name</TableCell>
              <TableCell>Database</TableCell>
              <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Added</TableCell>
              {mayManage && <TableCell align="right">Actions</TableCell>}
            </TableRow>
          </TableHead>
          <TableBody>
            {list.data.map((connection) => (
              <TableRow key={connection.id}>
                <TableCell>
                  <Typography sx={{ fontFamily: 'monospace', fontWeight: 600 }}>{connection.name}</Typography>
                  {connection.description && (
                    <Typography variant="body2" color="text.secondary">
                      {connection.description}
                    </Typography>
                  )}
                </TableCell>
                <TableCell sx={{ fontFamily: 'monospace', overflowWrap: 'anywhere' }}>{connection.dsn}</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>
                  <Time value={connection.created_at} />
                </TableCell>
                {mayManage && (
                  <TableCell align="right">
                    <DeleteButton name={`connection “${connection.name}”`} id={connection.id} mutation={remove} what="Agents that query it get an error from now on." />
                  </TableCell>
                )}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {mayManage && (
        <Box component="form" noValidate onSubmit={submit} aria-label="Add a SQL connection">
          <FormAlert message={form.formError} />
          <Grid container spacing={2}>
            <Grid size={{ xs: 12, sm: 4 }}>
              <TextField id={form.id('name')} label="Name" margin="none" value={name} onChange={(event) => setName(event.target.value)} error={Boolean(form.errors.name)} helperText={form.errors.name ?? NAME_HELP} />
            </Grid>
            <Grid size={{ xs: 12, sm: 8 }}>
              <TextField
                id={form.id('dsn')}
                label="Connection string"
                type="password"
                autoComplete="off"
                margin="none"
                value={dsn}
                onChange={(event) => setDsn(event.target.value)}
                error={Boolean(form.errors.dsn)}
                helperText={form.errors.dsn ?? 'postgresql://reader:password@host:5432/db — the password is stored encrypted.'}
              />
            </Grid>
            <Grid size={12}>
              <TextField id={form.id('description')} label="Description (optional)" margin="none" value={description} onChange={(event) => setDescription(event.target.value)} />
            </Grid>
          </Grid>
          <Button type="submit" variant="contained" startIcon={<AddIcon />} loading={create.isPending} sx={{ mt: 2 }}>
            Add connection
          </Button>
        </Box>
      )}
    </Section>
  );
}

// ---- MCP servers ----------------------------------------------------------------------------------------

/** `KEY=value` lines into an object; the problem line, if any. */
function parsePairs(text: string, separator: '=' | ':'): { value: Record<string, string>; error?: string } {
  const value: Record<string, string> = {};
  for (const line of text.split('\n').map((item) => item.trim()).filter(Boolean)) {
    const at = line.indexOf(separator);
    if (at <= 0) return { value, error: `Write each line as name${separator}value (“${line}” is not).` };
    value[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return { value };
}

function McpServerRow({ server, mayManage }: { server: McpServerOut; mayManage: boolean }) {
  const update = useUpdateMcpServer();
  const refresh = useRefreshMcpServer();
  const remove = useDeleteMcpServer();
  return (
    <Paper variant="outlined" sx={{ p: 2, mb: 2 }} component="section" aria-label={`MCP server ${server.name}`}>
      <Stack direction={{ xs: 'column', sm: 'row' }} sx={{ justifyContent: 'space-between', gap: 1 }}>
        <Box sx={{ minWidth: 0 }}>
          <Typography sx={{ fontFamily: 'monospace', fontWeight: 600 }}>mcp:{server.name}</Typography>
          <Typography variant="body2" color="text.secondary" sx={{ overflowWrap: 'anywhere' }}>
            {server.transport === 'http' ? server.url : (server.command ?? []).join(' ')}
          </Typography>
          {server.description && <Typography variant="body2">{server.description}</Typography>}
        </Box>
        {mayManage && (
          <FormControlLabel
            control={<Switch checked={server.enabled} disabled={update.isPending} onChange={(event) => update.mutate({ id: server.id, body: { enabled: event.target.checked } })} />}
            label="Enabled"
          />
        )}
      </Stack>
      {server.last_error && (
        <Alert severity="error" role="note" sx={{ mt: 1 }}>
          Last discovery failed: {server.last_error}
        </Alert>
      )}
      <Typography variant="body2" sx={{ mt: 1 }}>
        {server.tools.length} tool{server.tools.length === 1 ? '' : 's'}
        {server.discovered_at && (
          <>
            , discovered <Time value={server.discovered_at} />
          </>
        )}
        :
      </Typography>
      <Stack direction="row" sx={{ flexWrap: 'wrap', gap: 0.5, mt: 0.5 }}>
        {server.tools.map((tool) => (
          <Chip key={tool.name} size="small" variant="outlined" label={tool.name} title={tool.description} />
        ))}
      </Stack>
      {(update.isError || refresh.isError) && (
        <Alert severity="error" role="alert" sx={{ mt: 1 }}>
          {(update.error ?? refresh.error)?.message}
        </Alert>
      )}
      {mayManage && (
        <Stack direction="row" spacing={1} sx={{ mt: 1 }}>
          <Button size="small" loading={refresh.isPending} onClick={() => refresh.mutate(server.id)} aria-label={`Discover the tools of ${server.name} again`}>
            Refresh tools
          </Button>
          <DeleteButton name={`MCP server “${server.name}”`} id={server.id} mutation={remove} what="Agents lose its tools at their next run." />
        </Stack>
      )}
    </Paper>
  );
}

function McpServers({ mayManage }: { mayManage: boolean }) {
  const list = useQuery(integrationQueries.mcpServers());
  const create = useCreateMcpServer();
  const form = useFormErrors('mcp-');
  const [name, setName] = useState('');
  const [transport, setTransport] = useState<'http' | 'stdio'>('http');
  const [url, setUrl] = useState('');
  const [command, setCommand] = useState('');
  const [secrets, setSecrets] = useState('');
  const [description, setDescription] = useState('');

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    if (!NAME.test(name.trim())) errors.name = NAME_HELP;
    if (transport === 'http' && !/^https?:\/\//.test(url.trim())) errors.url = 'The server’s streamable-HTTP endpoint, e.g. https://mcp.example.com/mcp.';
    if (transport === 'stdio' && !command.trim()) errors.command = 'The command that starts the server, e.g. npx -y @acme/mcp-server.';
    const pairs = parsePairs(secrets, transport === 'http' ? ':' : '=');
    if (pairs.error) errors[transport === 'http' ? 'headers' : 'env'] = pairs.error;
    if (form.invalid(errors)) return;
    form.reset();
    create.mutate(
      {
        name: name.trim(),
        transport,
        description: description.trim(),
        enabled: true,
        ...(transport === 'http' ? { url: url.trim(), headers: pairs.value } : { command: command.trim().split(/\s+/), env: pairs.value }),
      },
      {
        onSuccess: () => {
          setName('');
          setUrl('');
          setCommand('');
          setSecrets('');
          setDescription('');
        },
        onError: (error) => form.fail(error),
      },
    );
  };

  return (
    <Section id="mcp-heading" title="MCP servers" description="Model Context Protocol servers whose tools agents may call (add “mcp:<name>” to an agent’s tools).">
      {list.isPending ? (
        <LoadingState />
      ) : list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.length === 0 ? (
        <Typography sx={{ mb: 2 }}>No MCP servers.</Typography>
      ) : (
        list.data.map((server) => <McpServerRow key={server.id} server={server} mayManage={mayManage} />)
      )}
      {mayManage && (
        <Box component="form" noValidate onSubmit={submit} aria-label="Register an MCP server">
          <FormAlert message={form.formError} />
          <Grid container spacing={2}>
            <Grid size={{ xs: 12, sm: 6 }}>
              <TextField id={form.id('name')} label="Name" margin="none" value={name} onChange={(event) => setName(event.target.value)} error={Boolean(form.errors.name)} helperText={form.errors.name ?? NAME_HELP} />
            </Grid>
            <Grid size={{ xs: 12, sm: 6 }}>
              <TextField select id={form.id('transport')} label="Transport" margin="none" value={transport} onChange={(event) => setTransport(event.target.value as 'http' | 'stdio')}>
                <MenuItem value="http">Streamable HTTP</MenuItem>
                <MenuItem value="stdio">Local process (stdio)</MenuItem>
              </TextField>
            </Grid>
            <Grid size={12}>
              {transport === 'http' ? (
                <TextField id={form.id('url')} label="URL" margin="none" value={url} onChange={(event) => setUrl(event.target.value)} error={Boolean(form.errors.url)} helperText={form.errors.url} />
              ) : (
                <TextField
                  id={form.id('command')}
                  label="Command"
                  margin="none"
                  value={command}
                  onChange={(event) => setCommand(event.target.value)}
                  error={Boolean(form.errors.command)}
                  helperText={form.errors.command ?? 'Split on spaces into the program and its arguments.'}
                  slotProps={{ htmlInput: { spellCheck: false, style: { fontFamily: 'monospace' } } }}
                />
              )}
            </Grid>
            <Grid size={12}>
              <TextField
                id={form.id(transport === 'http' ? 'headers' : 'env')}
                label={transport === 'http' ? 'Headers (optional)' : 'Environment (optional)'}
                multiline
                minRows={2}
                margin="none"
                value={secrets}
                onChange={(event) => setSecrets(event.target.value)}
                error={Boolean(form.errors.headers ?? form.errors.env)}
                helperText={
                  form.errors.headers ??
                  form.errors.env ??
                  (transport === 'http' ? 'One per line, e.g. Authorization: Bearer … — stored encrypted.' : 'One per line, e.g. API_TOKEN=… — stored encrypted.')
                }
                slotProps={{ htmlInput: { spellCheck: false, style: { fontFamily: 'monospace' } } }}
              />
            </Grid>
            <Grid size={12}>
              <TextField id={form.id('description')} label="Description (optional)" margin="none" value={description} onChange={(event) => setDescription(event.target.value)} />
            </Grid>
          </Grid>
          <Button type="submit" variant="contained" startIcon={<AddIcon />} loading={create.isPending} sx={{ mt: 2 }}>
            Register server
          </Button>
        </Box>
      )}
    </Section>
  );
}

/** Everything agents connect to, in one place. */
export function Integrations() {
  const { can } = usePermissions();
  return (
    <>
      <PageHeader title="Integrations" description="Model providers, databases and MCP servers the organisation’s agents can use." />
      {!can('agents:read') && !can('providers:manage') ? (
        <NoAccess what="see integrations" />
      ) : (
        <>
          {can('providers:manage') && <Providers />}
          {can('agents:read') && <SqlConnections mayManage={can('tools:manage')} />}
          {can('agents:read') && <McpServers mayManage={can('tools:manage')} />}
        </>
      )}
    </>
  );
}
