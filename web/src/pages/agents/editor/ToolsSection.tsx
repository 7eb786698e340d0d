import AddIcon from '@mui/icons-material/Add';
import DeleteIcon from '@mui/icons-material/Delete';
import {
  Alert,
  Box,
  Button,
  Checkbox,
  FormControl,
  FormControlLabel,
  FormGroup,
  FormHelperText,
  FormLabel,
  Grid,
  IconButton,
  ListItemText,
  Menu,
  MenuItem,
  Paper,
  Stack,
  Switch,
  TextField,
  Typography,
} from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { memo, useId, useState } from 'react';
import { integrationQueries } from '../../../api/queries/integrations';
import { toolQueries } from '../../../api/queries/tools';
import type { ToolOut } from '../../../api/types';
import { RouterLink } from '../../../components/links';
import { fieldId, type Errors } from '../../../components/useFormErrors';
import { emptyTool, newKey, type ToolDraft } from './draft';
import {
  MCP_CONFIG_EXAMPLE,
  MCP_DESCRIPTION,
  configFields,
  configText,
  displayText,
  fieldValue,
  findTool,
  jsonOnlyReason,
  parseConfig,
  toolLabel,
  type ConfigField,
} from './toolCatalog';
import type { SectionProps } from './types';

const mono = { htmlInput: { spellCheck: false, style: { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' } } };

const CONFIG_EXAMPLES: Record<string, string> = {
  http_request: '{"allowed_domains": ["api.example.com"]}',
  web_fetch: '{"allowed_domains": ["docs.example.com"]}',
  web_search: '{"max_results": 5}',
  sql_query: '{"connections": ["analytics"]}',
};

interface ConnectionsState {
  names: string[];
  pending: boolean;
  failed: boolean;
}

/** One setting of a tool's config, laid out from its schema. */
function SettingField({
  field,
  id,
  value,
  typed,
  error,
  connections,
  onChange,
}: {
  field: ConfigField;
  id: string;
  value: unknown;
  typed: string | undefined;
  error: string | undefined;
  connections: ConnectionsState;
  onChange: (value: unknown, typed?: string) => void;
}) {
  if (field.kind === 'connections' && !connections.failed) {
    const chosen = Array.isArray(value) ? value.map(String) : [];
    const options = [...connections.names, ...chosen.filter((name) => !connections.names.includes(name))];
    const helpId = `${id}-help`;
    return (
      <FormControl component="fieldset" id={id} tabIndex={-1} error={Boolean(error)} required={field.required} aria-describedby={helpId} sx={{ mt: 1, display: 'block' }}>
        <FormLabel component="legend">{field.label}</FormLabel>
        {connections.pending ? (
          <FormHelperText>Loading the organisation’s connections…</FormHelperText>
        ) : options.length === 0 ? (
          <FormHelperText>
            The organisation has no SQL connections yet. <RouterLink to="/settings/integrations" underline="always">
              Add one in Integrations
            </RouterLink>.
          </FormHelperText>
        ) : (
          <FormGroup row>
            {options.map((name) => (
              <FormControlLabel
                key={name}
                label={connections.names.includes(name) ? name : `${name} (not registered)`}
                control={
                  <Checkbox
                    checked={chosen.includes(name)}
                    onChange={(event) => {
                      const next = event.target.checked ? [...chosen, name] : chosen.filter((item) => item !== name);
                      onChange(next.length ? next : undefined);
                    }}
                  />
                }
              />
            ))}
          </FormGroup>
        )}
        <FormHelperText id={helpId}>{error ?? field.description}</FormHelperText>
      </FormControl>
    );
  }
  if (field.kind === 'boolean') {
    return (
      <Box sx={{ mt: 1 }}>
        <FormControlLabel
          control={<Switch id={id} checked={value === true} onChange={(event) => onChange(event.target.checked)} />}
          label={field.label}
        />
        {(error ?? field.description) && <FormHelperText error={Boolean(error)}>{error ?? field.description}</FormHelperText>}
      </Box>
    );
  }
  if (field.kind === 'choice') {
    return (
      <TextField
        select
        id={id}
        label={field.label}
        required={field.required}
        margin="dense"
        value={typeof value === 'string' ? value : ''}
        onChange={(event) => onChange(event.target.value || undefined)}
        error={Boolean(error)}
        helperText={error ?? field.description}
      >
        {!field.required && (
          <MenuItem value="">
            <em>Default</em>
          </MenuItem>
        )}
        {field.options?.map((option) => (
          <MenuItem key={option} value={option}>
            {option}
          </MenuItem>
        ))}
      </TextField>
    );
  }
  const list = field.kind === 'strings' || field.kind === 'connections';
  const numeric = field.kind === 'integer' || field.kind === 'number';
  const range =
    field.minimum !== undefined && field.maximum !== undefined
      ? `${field.minimum} to ${field.maximum}`
      : field.minimum !== undefined
        ? `at least ${field.minimum}`
        : field.maximum !== undefined
          ? `at most ${field.maximum}`
          : null;
  const help = list
    ? `${field.description ? `${field.description} ` : ''}One per line.`
    : numeric
      ? [field.description, range && `${range.charAt(0).toUpperCase()}${range.slice(1)}.`, field.required ? null : 'Empty: the default.'].filter(Boolean).join(' ')
      : field.description;
  return (
    <TextField
      id={id}
      label={field.label}
      required={field.required}
      margin="dense"
      multiline={list}
      minRows={list ? 2 : undefined}
      value={displayText(field, value, typed)}
      onChange={(event) => onChange(fieldValue(field, event.target.value), event.target.value)}
      error={Boolean(error)}
      helperText={error ?? help}
      slotProps={list ? mono : numeric ? { htmlInput: { inputMode: field.kind === 'integer' ? 'numeric' : 'decimal' } } : undefined}
    />
  );
}

/** A tool's config: fields from its schema when the server describes it, else (or on request) JSON. */
function ToolConfig({
  tool,
  path,
  errors,
  known,
  cataloguePending,
  connections,
  onChange,
}: {
  tool: ToolDraft;
  path: string;
  errors: Errors;
  known: ToolOut | undefined;
  cataloguePending: boolean;
  connections: ConnectionsState;
  onChange: (change: Partial<ToolDraft>) => void;
}) {
  const configPath = `${path}.config`;
  const parsed = parseConfig(tool.config);
  const fields = known ? configFields(known.config_schema) : null;
  const reason = known ? jsonOnlyReason(fields, parsed) : null;
  const heading = (
    <Typography sx={{ fontWeight: 600, mt: 1 }} id={`${fieldId(configPath)}-heading`}>
      Configuration
    </Typography>
  );

  if (!known && cataloguePending && tool.name && !tool.name.startsWith('mcp:')) {
    return (
      <>
        {heading}
        <FormHelperText>Loading the tool’s settings…</FormHelperText>
      </>
    );
  }

  const jsonSwitch = known && reason === null && (fields?.length ?? 0) > 0 && (
    <FormControlLabel
      control={<Switch checked={tool.configAsJson} onChange={(event) => onChange({ configAsJson: event.target.checked, configTyped: {} })} />}
      label="Edit configuration as JSON"
    />
  );

  if (known && fields && reason === null && !tool.configAsJson) {
    if (fields.length === 0) {
      return (
        <>
          {heading}
          <FormHelperText>This tool has no settings.</FormHelperText>
        </>
      );
    }
    const config = parsed ?? {};
    const set = (field: ConfigField, value: unknown, typed?: string) => {
      const next = { ...config };
      if (value === undefined) delete next[field.name];
      else next[field.name] = value;
      const configTyped = { ...tool.configTyped };
      if (typed === undefined) delete configTyped[field.name];
      else configTyped[field.name] = typed;
      onChange({ config: configText(next), configTyped });
    };
    return (
      <Box
        role="group"
        aria-labelledby={`${fieldId(configPath)}-heading`}
        // Where a link to an error of the config as a whole (from the summary) moves focus.
        id={fieldId(configPath)}
        tabIndex={-1}
        aria-describedby={errors[configPath] ? `${fieldId(configPath)}-error` : undefined}
        sx={{ outline: 'none' }}
      >
        <Stack direction="row" sx={{ justifyContent: 'space-between', alignItems: 'center', flexWrap: 'wrap', gap: 1 }}>
          {heading}
          {jsonSwitch}
        </Stack>
        {errors[configPath] && (
          <FormHelperText error id={`${fieldId(configPath)}-error`}>
            {errors[configPath]}
          </FormHelperText>
        )}
        {fields.map((field) => (
          <SettingField
            key={field.name}
            field={field}
            id={fieldId(`${configPath}.${field.name}`)}
            value={config[field.name]}
            typed={tool.configTyped[field.name]}
            error={errors[`${configPath}.${field.name}`]}
            connections={connections}
            onChange={(value, typed) => set(field, value, typed)}
          />
        ))}
      </Box>
    );
  }

  // The JSON editor: MCP servers, tools the server does not describe, schemas too rich for fields, or asked for.
  const nested = Object.entries(errors).find(([key]) => key.startsWith(`${configPath}.`));
  const error = errors[configPath] ?? (nested ? `${nested[0].slice(configPath.length + 1)}: ${nested[1]}` : undefined);
  const example = tool.name.startsWith('mcp:') ? MCP_CONFIG_EXAMPLE : CONFIG_EXAMPLES[tool.name];
  const help =
    reason && known
      ? reason
      : tool.name === 'sql_query' && connections.names.length
        ? `Connections: ${connections.names.join(', ')} — e.g. {"connections": ["${connections.names[0]}"]}`
        : example
          ? `For example ${example}`
          : 'Optional.';
  return (
    <>
      {jsonSwitch}
      <TextField
        id={fieldId(configPath)}
        label="Configuration (JSON)"
        multiline
        minRows={2}
        margin="dense"
        value={tool.config}
        placeholder={example ?? '{}'}
        // Typing here keeps this editor (it would otherwise give way to the fields as soon as the text fits them).
        onChange={(event) => onChange({ config: event.target.value, configTyped: {}, configAsJson: true })}
        error={Boolean(error)}
        helperText={error ?? help}
        slotProps={mono}
      />
    </>
  );
}

function ToolsSectionFields({ draft, update, errors }: SectionProps) {
  const [anchor, setAnchor] = useState<HTMLElement | null>(null);
  const menuId = useId();
  const used = new Set(draft.tools.map((tool) => tool.name));
  // The server's built-in tools, and the organisation's MCP servers and databases to pick from (agents:read).
  const catalogue = useQuery(toolQueries.list());
  const mcpServers = useQuery(integrationQueries.mcpServers());
  const sqlConnections = useQuery(integrationQueries.sqlConnections());
  const connections: ConnectionsState = {
    names: (sqlConnections.data ?? []).map((connection) => connection.name),
    pending: sqlConnections.isPending,
    failed: sqlConnections.isError,
  };

  const setTool = (index: number, change: Partial<ToolDraft>) =>
    update((d) => ({ ...d, tools: d.tools.map((tool, i) => (i === index ? { ...tool, ...change } : tool)) }));

  const add = (name: string) => {
    setAnchor(null);
    update((d) => ({ ...d, tools: [...d.tools, emptyTool(name)] }));
    // Focus the new tool's first control so keyboard users land in it.
    window.requestAnimationFrame(() => document.getElementById(fieldId(`tools.${draft.tools.length}.name`))?.focus());
  };

  return (
    <>
      {draft.tools.length === 0 && <Typography sx={{ mb: 1 }}>No tools: the agent only talks.</Typography>}
      <Stack spacing={2}>
        {draft.tools.map((tool, index) => {
          const known = findTool(catalogue.data, tool.name);
          const path = `tools.${index}`;
          const description = known?.description ?? (tool.name.startsWith('mcp:') ? MCP_DESCRIPTION : undefined);
          return (
            <Paper key={tool.key} variant="outlined" sx={{ p: 2 }} role="group" aria-label={`Tool ${tool.name || index + 1}`}>
              <Stack direction="row" sx={{ alignItems: 'flex-start', gap: 1 }}>
                <Box sx={{ flexGrow: 1 }}>
                  <TextField
                    id={fieldId(`${path}.name`)}
                    label="Tool"
                    required
                    margin="dense"
                    value={tool.name}
                    onChange={(event) => setTool(index, { name: event.target.value.trim(), configTyped: {} })}
                    error={Boolean(errors[`${path}.name`])}
                    helperText={errors[`${path}.name`] ?? description ?? 'A built-in tool name, or mcp:<server> for an MCP server.'}
                    slotProps={mono}
                  />
                </Box>
                <IconButton sx={{ mt: 2 }} aria-label={`Remove tool ${tool.name || index + 1}`} onClick={() => update((d) => ({ ...d, tools: d.tools.filter((_, i) => i !== index) }))}>
                  <DeleteIcon />
                </IconButton>
              </Stack>
              {known && !known.available && (
                <Alert severity="warning" role="note" sx={{ mt: 1 }}>
                  This server cannot run {toolLabel(known.name)} now: {known.unavailable_reason ?? 'it is not available.'} Runs that call it will get an error.
                </Alert>
              )}
              <Grid container spacing={2} sx={{ alignItems: 'center' }}>
                <Grid size={{ xs: 12, sm: 7 }}>
                  <FormControlLabel
                    control={<Switch checked={tool.needs_approval} onChange={(event) => setTool(index, { needs_approval: event.target.checked })} />}
                    label="Every call waits for a person’s approval"
                  />
                </Grid>
                <Grid size={{ xs: 12, sm: 5 }}>
                  <TextField
                    select
                    id={fieldId(`${path}.min_role`)}
                    label="Offered to tasks of"
                    margin="dense"
                    value={tool.min_role}
                    onChange={(event) => setTool(index, { min_role: event.target.value as ToolDraft['min_role'] })}
                    helperText="The lowest role of the task’s creator."
                  >
                    <MenuItem value="">Everyone</MenuItem>
                    <MenuItem value="user">Users and above</MenuItem>
                    <MenuItem value="operator">Operators and admins</MenuItem>
                    <MenuItem value="admin">Admins only</MenuItem>
                  </TextField>
                </Grid>
              </Grid>
              {!tool.needs_approval && (
                <Box sx={{ mt: 1 }}>
                  <Typography sx={{ fontWeight: 600 }}>Approval rules</Typography>
                  <FormHelperText sx={{ mt: 0 }}>
                    A call waits for approval when its arguments match every line of a rule: argument=pattern, with * and ? wildcards
                    (e.g. method=DELETE).
                  </FormHelperText>
                  {tool.rules.map((rule, ruleIndex) => {
                    const rulePath = `${path}.approval_rules.${ruleIndex}.arguments`;
                    return (
                      <Stack direction="row" key={rule.key} sx={{ gap: 1, alignItems: 'flex-start' }}>
                        <TextField
                          id={fieldId(rulePath)}
                          label={`Rule ${ruleIndex + 1}`}
                          multiline
                          minRows={1}
                          margin="dense"
                          value={rule.text}
                          placeholder={'method=DELETE\nurl=https://api.example.com/*'}
                          onChange={(event) =>
                            setTool(index, { rules: tool.rules.map((item, i) => (i === ruleIndex ? { ...item, text: event.target.value } : item)) })
                          }
                          error={Boolean(errors[rulePath])}
                          helperText={errors[rulePath]}
                          slotProps={mono}
                        />
                        <IconButton
                          sx={{ mt: 2 }}
                          aria-label={`Remove rule ${ruleIndex + 1} of ${tool.name || 'this tool'}`}
                          onClick={() => setTool(index, { rules: tool.rules.filter((_, i) => i !== ruleIndex) })}
                        >
                          <DeleteIcon />
                        </IconButton>
                      </Stack>
                    );
                  })}
                  <Button size="small" startIcon={<AddIcon />} onClick={() => setTool(index, { rules: [...tool.rules, { key: newKey(), text: '' }] })}>
                    Add rule
                  </Button>
                </Box>
              )}
              <ToolConfig
                tool={tool}
                path={path}
                errors={errors}
                known={known}
                cataloguePending={catalogue.isPending}
                connections={connections}
                onChange={(change) => setTool(index, change)}
              />
            </Paper>
          );
        })}
      </Stack>
      <Button
        sx={{ mt: 2 }}
        variant="outlined"
        startIcon={<AddIcon />}
        aria-haspopup="menu"
        aria-controls={anchor ? menuId : undefined}
        aria-expanded={anchor ? true : undefined}
        onClick={(event) => setAnchor(event.currentTarget)}
      >
        Add tool
      </Button>
      <Menu
        id={menuId}
        anchorEl={anchor}
        open={anchor !== null}
        onClose={() => setAnchor(null)}
        // Unavailable tools stay reachable by keyboard, so everyone learns why they cannot be picked.
        slotProps={{ list: { disabledItemsFocusable: true } }}
      >
        {catalogue.isPending && <MenuItem disabled>Loading the built-in tools…</MenuItem>}
        {catalogue.isError && (
          <MenuItem onClick={() => void catalogue.refetch()}>
            <ListItemText primary="The built-in tools could not be loaded" secondary="Try again" />
          </MenuItem>
        )}
        {(catalogue.data ?? []).map((tool) => {
          const taken = used.has(tool.name);
          const descriptionId = `${menuId}-${tool.name}-description`;
          return (
            <MenuItem
              key={tool.name}
              disabled={taken || !tool.available}
              onClick={() => {
                if (!taken && tool.available) add(tool.name);
              }}
              aria-describedby={descriptionId}
              sx={{ whiteSpace: 'normal', maxWidth: 460 }}
            >
              <ListItemText
                primary={toolLabel(tool.name)}
                secondary={
                  <>
                    {tool.name}
                    {/* Visible to all; read as the item's description (its name stays short). */}
                    <Box component="span" id={descriptionId} aria-hidden sx={{ display: 'block' }}>
                      {tool.description}
                      {!tool.available && ` Unavailable on this server: ${tool.unavailable_reason ?? 'it cannot run here.'}`}
                      {taken && ' Already added.'}
                    </Box>
                  </>
                }
              />
            </MenuItem>
          );
        })}
        {(mcpServers.data ?? []).map((server) => (
          <MenuItem key={server.id} disabled={used.has(`mcp:${server.name}`)} onClick={() => add(`mcp:${server.name}`)}>
            <ListItemText
              primary={`MCP: ${server.name}${server.enabled ? '' : ' (disabled)'}`}
              secondary={`${server.tools.length} tool${server.tools.length === 1 ? '' : 's'}`}
            />
          </MenuItem>
        ))}
        <MenuItem onClick={() => add('mcp:')}>
          <ListItemText primary="Other MCP server…" secondary="mcp:<server name>" />
        </MenuItem>
      </Menu>
    </>
  );
}

/** Re-renders only when its part of the draft (or the errors) changed: typing elsewhere stays cheap. */
export const ToolsSection = memo(
  ToolsSectionFields,
  (a: SectionProps, b: SectionProps) =>
    a.update === b.update &&
    a.errors === b.errors &&
    a.draft.tools === b.draft.tools,
);
