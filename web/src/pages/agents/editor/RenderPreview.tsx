import { Alert, Box, Chip, LinearProgress, Paper, Stack, Typography } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { ApiError, fieldErrors } from '../../../api/errors';
import { agentQueries } from '../../../api/queries/agents';
import type { AgentOut } from '../../../api/types';
import { SchemaForm, initialValues, toInput, type SchemaValues } from '../../../components/SchemaForm';
import { useDebouncedValue } from '../../../components/useDebouncedValue';

const pre = {
  m: 0,
  p: 1.5,
  whiteSpace: 'pre-wrap',
  overflowWrap: 'anywhere',
  fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
  fontSize: '0.8125rem',
  bgcolor: 'action.hover',
  borderRadius: 1,
} as const;

/**
 * The prompt a run of the saved version would send for a sample input, rendered by the API
 * (`POST /v1/agents/{id}/render`) exactly as a run renders it, live as the sample input changes.
 */
export function RenderPreview({ agent, unsaved }: { agent: AgentOut; unsaved: boolean }) {
  const [values, setValues] = useState<SchemaValues>(() => initialValues(agent.input_schema, sampleFor(agent.input_schema)));
  const { input, errors: inputErrors } = useMemo(() => toInput(agent.input_schema, values), [agent.input_schema, values]);
  const valid = Object.keys(inputErrors).length === 0;
  const body = useDebouncedValue(useMemo(() => ({ input, version: agent.latest_version }), [input, agent.latest_version]), 400);
  const rendered = useQuery({ ...agentQueries.render(agent.id, body), enabled: valid });

  const serverErrors = rendered.error instanceof ApiError ? fieldErrors(rendered.error.details) : {};
  const inputServerErrors = Object.fromEntries(Object.entries(serverErrors).filter(([key]) => key.startsWith('input.')));
  const templateProblems = Object.entries(serverErrors).filter(([key]) => !key.startsWith('input.'));

  return (
    <Paper variant="outlined" component="section" aria-labelledby="preview-heading" sx={{ p: 2 }}>
      <Stack direction="row" sx={{ alignItems: 'center', justifyContent: 'space-between', gap: 1, flexWrap: 'wrap' }}>
        <Typography variant="h2" id="preview-heading">
          Prompt preview
        </Typography>
        <Chip size="small" label={`version ${agent.latest_version}`} />
      </Stack>
      {unsaved && (
        <Alert severity="info" role="note" sx={{ mt: 1 }}>
          Shows the saved version. Save to preview your changes.
        </Alert>
      )}
      <Typography variant="h3" sx={{ mt: 2 }}>
        Sample input
      </Typography>
      <SchemaForm schema={agent.input_schema} values={values} onChange={setValues} errors={{ ...inputErrors, ...inputServerErrors }} idPrefix="preview-" />
      <Box aria-live="polite" aria-busy={rendered.isFetching} sx={{ mt: 2 }}>
        {rendered.isFetching && <LinearProgress aria-label="Rendering the preview" />}
        {rendered.isError && (
          <Alert severity="error" sx={{ my: 1 }}>
            {rendered.error.message}
            {templateProblems.length > 0 && (
              <ul style={{ margin: 0, paddingLeft: '1.25rem' }}>
                {templateProblems.map(([key, message]) => (
                  <li key={key}>
                    {key.replace(/_/g, ' ')}: {message}
                  </li>
                ))}
              </ul>
            )}
          </Alert>
        )}
        {rendered.data && !rendered.isError && (
          <>
            <Typography variant="h3" sx={{ mt: 1, mb: 0.5 }}>
              System prompt
            </Typography>
            <Box component="pre" sx={pre}>
              {rendered.data.system_prompt || <em>(empty)</em>}
            </Box>
            {rendered.data.messages
              .filter((message) => message.role !== 'system')
              .map((message, index) => (
                <Box key={index}>
                  <Typography variant="h3" sx={{ mt: 1.5, mb: 0.5 }}>
                    {message.role === 'user' ? 'First user message' : message.role}
                  </Typography>
                  <Box component="pre" sx={pre}>
                    {message.content}
                  </Box>
                </Box>
              ))}
          </>
        )}
      </Box>
    </Paper>
  );
}

/** A plausible sample for the preview: each required string variable gets its own name. */
function sampleFor(schema: unknown): Record<string, unknown> | null {
  if (!schema || typeof schema !== 'object') return { message: 'Hello!' };
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  return Object.fromEntries(
    Object.entries(properties)
      .filter(([, property]) => property?.type === 'string')
      .map(([name]) => [name, `example ${name}`]),
  );
}
