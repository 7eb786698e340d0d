import AddIcon from '@mui/icons-material/Add';
import DeleteIcon from '@mui/icons-material/Delete';
import {
  Box,
  Button,
  FormControlLabel,
  FormHelperText,
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
import { fieldId } from '../../../components/useFormErrors';
import { emptyTool, newKey, type ToolDraft } from './draft';
import { TOOL_CATALOG, toolInfo } from './toolCatalog';
import type { SectionProps } from './types';

const mono = { htmlInput: { spellCheck: false, style: { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' } } };

function ToolsSectionFields({ draft, update, errors }: SectionProps) {
  const [anchor, setAnchor] = useState<HTMLElement | null>(null);
  const menuId = useId();
  const used = new Set(draft.tools.map((tool) => tool.name));
  // The organisation's MCP servers and databases, to pick from (readable with agents:read).
  const mcpServers = useQuery(integrationQueries.mcpServers());
  const sqlConnections = useQuery(integrationQueries.sqlConnections());
  const connectionNames = (sqlConnections.data ?? []).map((connection) => connection.name);

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
          const info = toolInfo(tool.name);
          const path = `tools.${index}`;
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
                    onChange={(event) => setTool(index, { name: event.target.value.trim() })}
                    error={Boolean(errors[`${path}.name`])}
                    helperText={errors[`${path}.name`] ?? info?.description ?? 'A built-in tool name, or mcp:<server> for an MCP server.'}
                    slotProps={mono}
                  />
                </Box>
                <IconButton sx={{ mt: 2 }} aria-label={`Remove tool ${tool.name || index + 1}`} onClick={() => update((d) => ({ ...d, tools: d.tools.filter((_, i) => i !== index) }))}>
                  <DeleteIcon />
                </IconButton>
              </Stack>
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
              <TextField
                id={fieldId(`${path}.config`)}
                label="Configuration (JSON)"
                multiline
                minRows={2}
                margin="dense"
                value={tool.config}
                placeholder={info?.configExample ?? '{}'}
                onChange={(event) => setTool(index, { config: event.target.value })}
                error={Boolean(errors[`${path}.config`])}
                helperText={
                  errors[`${path}.config`] ??
                  (tool.name === 'sql_query' && connectionNames.length
                    ? `Connections: ${connectionNames.join(', ')} — e.g. {"connections": ["${connectionNames[0]}"]}`
                    : info
                      ? `For example ${info.configExample}`
                      : 'Optional.')
                }
                slotProps={mono}
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
      <Menu id={menuId} anchorEl={anchor} open={anchor !== null} onClose={() => setAnchor(null)}>
        {TOOL_CATALOG.map((tool) => (
          <MenuItem key={tool.name} disabled={used.has(tool.name)} onClick={() => add(tool.name)}>
            <ListItemText primary={tool.label} secondary={tool.name} />
          </MenuItem>
        ))}
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
