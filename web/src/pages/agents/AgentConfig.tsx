import { Box, Chip, Divider, Paper, Stack, Typography } from '@mui/material';
import type { AgentOut } from '../../api/types';
import { JsonView } from '../../components/JsonView';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function Block({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <Paper variant="outlined" component="section" sx={{ p: 2, mb: 2 }} aria-label={title}>
      <Typography variant="h3" component="h2" gutterBottom>
        {title}
      </Typography>
      {children}
    </Paper>
  );
}

function target(raw: unknown) {
  const value = isObject(raw) ? raw : {};
  return `${String(value.provider ?? '?')} / ${String(value.name ?? '?')}`;
}

/** The latest version's configuration, read-only. */
export function AgentConfig({ agent }: { agent: AgentOut }) {
  const model = isObject(agent.model) ? agent.model : {};
  const fallbacks = Array.isArray(model.fallbacks) ? model.fallbacks : [];
  const schema = isObject(agent.input_schema) ? agent.input_schema : null;
  const properties = isObject(schema?.properties) ? schema.properties : {};
  const required = Array.isArray(schema?.required) ? schema.required : [];
  const policies = Object.entries(agent.policies ?? {});
  return (
    <>
      <Block title="Model">
        <Typography>
          <strong>{target(model)}</strong>
        </Typography>
        {isObject(model.options) && Object.keys(model.options).length > 0 && <JsonView value={model.options} label="Model options" />}
        {fallbacks.length > 0 && (
          <Typography sx={{ mt: 1 }}>
            Falls back to: {fallbacks.map((fallback, index) => <Chip key={index} size="small" label={`${index + 1}. ${target(fallback)}`} sx={{ mr: 0.5 }} />)}
          </Typography>
        )}
      </Block>
      <Block title="Prompt">
        <Typography sx={{ fontWeight: 600 }}>System prompt</Typography>
        <Box component="pre" sx={{ whiteSpace: 'pre-wrap', fontFamily: 'monospace', fontSize: '0.875rem', m: 0, mb: 1 }}>
          {agent.system_prompt || '(none)'}
        </Box>
        <Typography sx={{ fontWeight: 600 }}>First user message</Typography>
        <Box component="pre" sx={{ whiteSpace: 'pre-wrap', fontFamily: 'monospace', fontSize: '0.875rem', m: 0, mb: 1 }}>
          {agent.prompt_template || '(the input’s “message”, or the input as JSON)'}
        </Box>
        <Typography sx={{ fontWeight: 600 }}>Input variables</Typography>
        {Object.keys(properties).length === 0 ? (
          <Typography>None declared.</Typography>
        ) : (
          <Stack direction="row" sx={{ flexWrap: 'wrap', gap: 0.5 }}>
            {Object.entries(properties).map(([name, property]) => (
              <Chip
                key={name}
                size="small"
                variant="outlined"
                label={`${name}: ${isObject(property) ? String(property.type ?? 'any') : 'any'}${required.includes(name) ? ' (required)' : ''}`}
              />
            ))}
          </Stack>
        )}
      </Block>
      <Block title="Tools">
        {agent.tools.length === 0 ? (
          <Typography>No tools.</Typography>
        ) : (
          agent.tools.map((tool, index) => {
            const spec = isObject(tool) ? tool : {};
            const rules = Array.isArray(spec.approval_rules) ? spec.approval_rules.length : 0;
            return (
              <Box key={index}>
                {index > 0 && <Divider sx={{ my: 1 }} />}
                <Stack direction="row" sx={{ gap: 1, alignItems: 'center', flexWrap: 'wrap' }}>
                  <Typography sx={{ fontFamily: 'monospace', fontWeight: 600 }}>{String(spec.name)}</Typography>
                  {spec.needs_approval === true && <Chip size="small" color="warning" label="every call needs approval" />}
                  {spec.needs_approval !== true && rules > 0 && <Chip size="small" color="warning" variant="outlined" label={`${rules} approval rule${rules > 1 ? 's' : ''}`} />}
                  {typeof spec.min_role === 'string' && <Chip size="small" label={`${spec.min_role}+`} />}
                </Stack>
                {isObject(spec.config) && Object.keys(spec.config).length > 0 && <JsonView value={spec.config} label={`${String(spec.name)} configuration`} maxHeight={160} />}
              </Box>
            );
          })
        )}
      </Block>
      <Block title="Run policies">
        {policies.length === 0 ? (
          <Typography>Platform defaults.</Typography>
        ) : (
          <Box component="dl" sx={{ display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: '4px 16px', m: 0 }}>
            {policies.map(([key, value]) => (
              <Box key={key} sx={{ display: 'contents' }}>
                <Typography component="dt" color="text.secondary">
                  {key.replace(/_/g, ' ')}
                </Typography>
                <Typography component="dd" sx={{ m: 0, overflowWrap: 'anywhere' }}>
                  {Array.isArray(value) ? value.join(', ') || '(none)' : String(value)}
                </Typography>
              </Box>
            ))}
          </Box>
        )}
      </Block>
    </>
  );
}
