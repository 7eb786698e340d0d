import { Alert, AlertTitle, Box, Button, LinearProgress, Paper, Stack, Typography } from '@mui/material';
import { errorMessage } from '../../../api/errors';
import { FieldLink } from '../../../components/ErrorSummary';
import { SchemaForm } from '../../../components/SchemaForm';
import { ErrorState } from '../../../components/States';
import { visuallyHidden } from '../../../components/visuallyHidden';
import type { DraftPreview, LiveField } from './useDraftPreview';

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

const LIVE_LABELS: Record<LiveField, string> = {
  system_prompt: 'System prompt',
  prompt_template: 'First user message template',
  input_schema: 'Input variables',
};

/** The prefix of the sample input's field ids (the run form may share the page). */
export const PREVIEW_ID_PREFIX = 'preview-';

function statusText(preview: DraftPreview): string {
  switch (preview.status) {
    case 'blocked':
      return preview.blockedReason ?? '';
    case 'updating':
      return 'Updating the preview…';
    case 'error':
      return `The preview could not be rendered: ${errorMessage(preview.error)}`;
    case 'ready':
      return 'The preview is up to date.';
  }
}

/**
 * The prompt a run would send for a sample input, rendered by the API from the form as it is now (saved or
 * not). Problems with a template or the schema are shown under their field in the form and listed here with
 * links to them; problems with the sample input are shown under the sample's fields.
 */
export function RenderPreview({ preview }: { preview: DraftPreview }) {
  const { status, result, error, liveErrors, sampleErrors } = preview;
  const updating = status === 'updating';
  const fieldProblems = Object.entries(liveErrors) as [LiveField, string][];
  const sampleProblems = Object.entries(sampleErrors);
  const namedProblem = fieldProblems.length > 0 || sampleProblems.length > 0;

  return (
    <Paper variant="outlined" component="section" aria-labelledby="preview-heading" sx={{ p: 2 }}>
      <Typography variant="h2" id="preview-heading">
        Prompt preview
      </Typography>
      <Typography variant="body2" color="text.secondary">
        The form as it is now, saved or not, rendered by the server exactly as a run would render it.
      </Typography>
      {/* One polite status line: the fields' own messages change silently while typing. On an error it is
          only heard: the alert below shows the same message. */}
      <Typography role="status" variant="body2" sx={status === 'error' ? visuallyHidden : { mt: 1, fontWeight: 500 }}>
        {statusText(preview)}
      </Typography>

      <Stack direction="row" sx={{ mt: 2, alignItems: 'center', justifyContent: 'space-between', gap: 1, flexWrap: 'wrap' }}>
        <Typography variant="h3" id="preview-sample-heading">
          Sample input
        </Typography>
        <Button size="small" onClick={preview.resetSample}>
          Reset sample
        </Button>
      </Stack>
      <Typography variant="body2" color="text.secondary">
        Generated from the input variables; edit it to try other values.
      </Typography>
      <Box role="group" aria-labelledby="preview-sample-heading">
        <SchemaForm schema={preview.schema} values={preview.values} onChange={preview.setValues} errors={sampleErrors} idPrefix={PREVIEW_ID_PREFIX} />
      </Box>

      <Box aria-busy={updating} sx={{ mt: 2 }}>
        {updating && <LinearProgress aria-label="Rendering the preview" />}
        {status === 'blocked' ? (
          <Alert severity="info" sx={{ my: 1 }}>
            {preview.blockedReason}
          </Alert>
        ) : error !== undefined && namedProblem ? (
          <Alert severity="error" sx={{ my: 1 }}>
            <AlertTitle>{errorMessage(error)}</AlertTitle>
            <ul style={{ margin: 0, paddingLeft: '1.25rem' }}>
              {fieldProblems.map(([field, message]) => (
                <li key={field}>
                  <FieldLink path={field}>{LIVE_LABELS[field]}</FieldLink>: {message}
                </li>
              ))}
              {sampleProblems.map(([path, message]) =>
                path === 'input' ? (
                  <li key={path}>Sample input: {message}</li>
                ) : (
                  <li key={path}>
                    <FieldLink path={`${PREVIEW_ID_PREFIX}${path}`}>{`Sample ${path.slice('input.'.length).replace('__raw__', 'input')}`}</FieldLink>: {message}
                  </li>
                ),
              )}
            </ul>
          </Alert>
        ) : error !== undefined ? (
          <ErrorState error={error} title="The preview could not be rendered" onRetry={preview.retry} />
        ) : result ? (
          <Box sx={{ opacity: updating ? 0.6 : 1, transition: 'opacity 150ms' }}>
            <Typography variant="h3" sx={{ mt: 1, mb: 0.5 }}>
              System prompt
            </Typography>
            <Box component="pre" sx={pre}>
              {result.system_prompt || <em>(empty)</em>}
            </Box>
            {result.messages
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
          </Box>
        ) : null}
      </Box>
    </Paper>
  );
}
