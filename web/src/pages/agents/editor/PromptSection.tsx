import AddIcon from '@mui/icons-material/Add';
import DeleteIcon from '@mui/icons-material/Delete';
import {
  Alert,
  Box,
  Button,
  Checkbox,
  FormControlLabel,
  Grid,
  IconButton,
  MenuItem,
  Stack,
  Switch,
  TextField,
  Typography,
} from '@mui/material';
import { memo, useState } from 'react';
import { fieldId } from '../../../components/useFormErrors';
import { VARIABLE_TYPES, emptyVariable, schemaFromDraft, undeclaredVariables, variablesFromSchema, type VariableType } from './draft';
import type { SectionProps } from './types';
import type { LiveErrors } from './useDraftPreview';

interface PromptSectionProps extends SectionProps {
  /** The live preview's errors about the templates and the schema (the form's own errors come first). */
  live: LiveErrors;
}

const mono = { htmlInput: { spellCheck: false, style: { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' } } };

function PromptSectionFields({ draft, update, errors, live }: PromptSectionProps) {
  const [switchError, setSwitchError] = useState<string | null>(null);
  const undeclared = undeclaredVariables(draft);
  const systemPromptError = errors.system_prompt ?? live.system_prompt;
  const templateError = errors.prompt_template ?? live.prompt_template;
  const schemaError = errors.input_schema ?? live.input_schema;

  const toggleJson = (json: boolean) => {
    setSwitchError(null);
    if (json) {
      const schema = schemaFromDraft(draft);
      update((d) => ({ ...d, schemaMode: 'json', schemaJson: schema ? JSON.stringify(schema, null, 2) : '' }));
      return;
    }
    let parsed: unknown;
    try {
      parsed = draft.schemaJson.trim() ? JSON.parse(draft.schemaJson) : null;
    } catch {
      setSwitchError('Fix the JSON first: it does not parse.');
      return;
    }
    const variables = variablesFromSchema(parsed);
    if (variables === null) {
      setSwitchError('This schema uses more than the variable editor can show (nesting, constraints…); keep editing it as JSON.');
      return;
    }
    update((d) => ({ ...d, schemaMode: 'variables', variables }));
  };

  const setVariable = (index: number, change: Partial<(typeof draft.variables)[number]>) =>
    update((d) => ({ ...d, variables: d.variables.map((variable, i) => (i === index ? { ...variable, ...change } : variable)) }));

  return (
    <>
      <TextField
        id={fieldId('system_prompt')}
        label="System prompt"
        multiline
        minRows={4}
        value={draft.system_prompt}
        onChange={(event) => update((d) => ({ ...d, system_prompt: event.target.value }))}
        error={Boolean(systemPromptError)}
        helperText={systemPromptError ?? 'A Jinja2 template over the input variables, e.g. “You help {{ customer }}.”; plain text works too.'}
        slotProps={mono}
      />
      <TextField
        id={fieldId('prompt_template')}
        label="First user message template (optional)"
        multiline
        minRows={3}
        value={draft.prompt_template}
        onChange={(event) => update((d) => ({ ...d, prompt_template: event.target.value }))}
        error={Boolean(templateError)}
        helperText={templateError ?? 'Empty: the message is the input’s “message”, or the whole input as JSON.'}
        slotProps={mono}
      />

      <Stack direction={{ xs: 'column', sm: 'row' }} sx={{ justifyContent: 'space-between', alignItems: { sm: 'center' }, mt: 3 }}>
        <Typography variant="h3" id="variables-heading">
          Input variables
        </Typography>
        <FormControlLabel
          control={<Switch checked={draft.schemaMode === 'json'} onChange={(event) => toggleJson(event.target.checked)} />}
          label="Edit as JSON Schema"
        />
      </Stack>
      <Typography color="text.secondary" sx={{ mb: 1 }}>
        What a run takes as input. The templates can use these names; the run form is generated from them.
      </Typography>
      {switchError && (
        <Alert severity="warning" role="status" sx={{ mb: 1 }}>
          {switchError}
        </Alert>
      )}
      {undeclared.length > 0 && (
        <Alert severity="warning" role="status" sx={{ mb: 1 }} id={fieldId('undeclared')}>
          The templates use {undeclared.map((name) => `“${name}”`).join(', ')}, which {undeclared.length === 1 ? 'is' : 'are'} not declared
          below. Saving will fail until every variable is declared.
        </Alert>
      )}
      {schemaError && draft.schemaMode === 'variables' && (
        // An alert for the save's error; the live preview's changes while typing, so it stays quiet.
        <Typography color="error" role={errors.input_schema ? 'alert' : undefined} id="variables-error">
          {schemaError}
        </Typography>
      )}
      {draft.schemaMode === 'json' ? (
        <TextField
          id={fieldId('input_schema')}
          label="Input schema (JSON Schema, draft 2020-12)"
          multiline
          minRows={8}
          value={draft.schemaJson}
          onChange={(event) => update((d) => ({ ...d, schemaJson: event.target.value }))}
          error={Boolean(schemaError)}
          helperText={schemaError ?? '{"type": "object", "properties": {…}, "required": […]}; empty: no schema.'}
          slotProps={mono}
        />
      ) : (
        // The schema's errors (from saving or the preview) point here: focusable, and described by the error.
        <Box
          role="group"
          aria-labelledby="variables-heading"
          id={fieldId('input_schema')}
          tabIndex={-1}
          aria-describedby={schemaError ? 'variables-error' : undefined}
          sx={{ outline: 'none' }}
        >
          {draft.variables.length === 0 && <Typography sx={{ my: 1 }}>No variables: the run input is free-form.</Typography>}
          {draft.variables.map((variable, index) => (
            <Grid container spacing={1} key={variable.key} sx={{ alignItems: 'flex-start', mb: 1 }}>
              <Grid size={{ xs: 12, sm: 5 }}>
                <TextField
                  id={fieldId(`variables.${index}.name`)}
                  label="Variable name"
                  required
                  margin="dense"
                  value={variable.name}
                  onChange={(event) => setVariable(index, { name: event.target.value })}
                  error={Boolean(errors[`variables.${index}.name`])}
                  helperText={errors[`variables.${index}.name`]}
                  slotProps={mono}
                />
              </Grid>
              <Grid size={{ xs: 6, sm: 3 }}>
                <TextField
                  select
                  id={fieldId(`variables.${index}.type`)}
                  label="Variable type"
                  margin="dense"
                  value={variable.type}
                  onChange={(event) => setVariable(index, { type: event.target.value as VariableType })}
                >
                  {VARIABLE_TYPES.map((type) => (
                    <MenuItem key={type} value={type}>
                      {type}
                    </MenuItem>
                  ))}
                </TextField>
              </Grid>
              <Grid size={{ xs: 4, sm: 3 }} sx={{ pt: 1.5 }}>
                <FormControlLabel
                  control={<Checkbox checked={variable.required} onChange={(event) => setVariable(index, { required: event.target.checked })} />}
                  label="Required"
                />
              </Grid>
              <Grid size={{ xs: 12 }} sx={{ order: 5, mt: -1 }}>
                <TextField
                  id={fieldId(`variables.${index}.description`)}
                  label="Variable description"
                  margin="dense"
                  value={variable.description}
                  onChange={(event) => setVariable(index, { description: event.target.value })}
                />
              </Grid>
              <Grid size={{ xs: 2, sm: 1 }} sx={{ pt: 2, order: 4 }}>
                <IconButton
                  aria-label={`Remove variable ${variable.name || index + 1}`}
                  onClick={() => update((d) => ({ ...d, variables: d.variables.filter((_, i) => i !== index) }))}
                >
                  <DeleteIcon />
                </IconButton>
              </Grid>
            </Grid>
          ))}
          <Button startIcon={<AddIcon />} onClick={() => update((d) => ({ ...d, variables: [...d.variables, emptyVariable()] }))}>
            Add variable
          </Button>
        </Box>
      )}
    </>
  );
}

/** Re-renders only when its part of the draft (or the errors) changed: typing elsewhere stays cheap. */
export const PromptSection = memo(
  PromptSectionFields,
  (a: PromptSectionProps, b: PromptSectionProps) =>
    a.update === b.update &&
    a.errors === b.errors &&
    a.live === b.live &&
    a.draft.system_prompt === b.draft.system_prompt &&
    a.draft.prompt_template === b.draft.prompt_template &&
    a.draft.schemaMode === b.draft.schemaMode &&
    a.draft.variables === b.draft.variables &&
    a.draft.schemaJson === b.draft.schemaJson,
);
