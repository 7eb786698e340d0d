import { memo } from 'react';
import AddIcon from '@mui/icons-material/Add';
import ArrowDownwardIcon from '@mui/icons-material/ArrowDownward';
import ArrowUpwardIcon from '@mui/icons-material/ArrowUpward';
import DeleteIcon from '@mui/icons-material/Delete';
import { Alert, Box, Button, Grid, IconButton, MenuItem, Paper, Stack, TextField, Tooltip, Typography } from '@mui/material';
import type { Errors } from '../../../components/useFormErrors';
import { fieldId } from '../../../components/useFormErrors';
import { DEFAULT_MODELS, MAX_FALLBACKS, MOCK_MODELS, PROVIDERS, emptyTarget, type Provider, type TargetDraft } from './draft';
import { providerProblem, useProviderAvailability, type ProviderAvailability } from './providers';
import type { SectionProps } from './types';

function TargetFields({
  target,
  path,
  errors,
  onChange,
  label,
  availability,
}: {
  target: TargetDraft;
  path: string;
  errors: Errors;
  onChange: (target: TargetDraft) => void;
  label: string;
  availability: ProviderAvailability;
}) {
  // A named credential is checked when the agent is saved (the API refuses an unknown one).
  const problem = target.credential.trim() ? null : providerProblem(target.provider, availability);
  const onlyMock = !availability.pending && availability.usable.length === 1;
  const set = <K extends keyof TargetDraft>(key: K, value: TargetDraft[K]) => onChange({ ...target, [key]: value });
  const number = (key: 'temperature' | 'top_p' | 'max_tokens', text: string, help: string) => (
    <Grid size={{ xs: 12, sm: 4 }}>
      <TextField
        id={fieldId(`${path}.options.${key}`)}
        label={text}
        value={target[key]}
        onChange={(event) => set(key, event.target.value)}
        error={Boolean(errors[`${path}.options.${key}`])}
        helperText={errors[`${path}.options.${key}`] ?? help}
        slotProps={{ htmlInput: { inputMode: 'decimal' } }}
        margin="dense"
      />
    </Grid>
  );
  return (
    <Box role="group" aria-label={label}>
      <Grid container spacing={2}>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField
            select
            id={fieldId(`${path}.provider`)}
            label="Provider"
            value={target.provider}
            onChange={(event) => {
              const provider = event.target.value as Provider;
              // Model names belong to one provider: start the new one on its default, never on an empty name.
              onChange({
                ...target,
                provider,
                name: provider === target.provider ? target.name : DEFAULT_MODELS[provider],
                credential: provider === target.provider ? target.credential : '',
              });
            }}
            error={Boolean(errors[`${path}.provider`])}
            helperText={
              errors[`${path}.provider`] ??
              (onlyMock && target.provider === 'mock' ? 'This server has no provider key yet: the offline mock works without one.' : undefined)
            }
            margin="dense"
          >
            {PROVIDERS.map((provider) => (
              <MenuItem key={provider.value} value={provider.value}>
                {provider.label}
              </MenuItem>
            ))}
          </TextField>
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          {target.provider === 'mock' ? (
            <TextField
              select
              id={fieldId(`${path}.name`)}
              label="Model"
              required
              value={MOCK_MODELS.includes(target.name) ? target.name : ''}
              onChange={(event) => set('name', event.target.value)}
              error={Boolean(errors[`${path}.name`])}
              helperText={errors[`${path}.name`] ?? 'echo answers with the input; scripted plays options.script.'}
              margin="dense"
            >
              {MOCK_MODELS.map((model) => (
                <MenuItem key={model} value={model}>
                  {model}
                </MenuItem>
              ))}
            </TextField>
          ) : (
            <TextField
              id={fieldId(`${path}.name`)}
              label="Model"
              required
              placeholder={target.provider === 'anthropic' ? 'claude-sonnet-4-5' : 'gpt-4o'}
              value={target.name}
              onChange={(event) => set('name', event.target.value)}
              error={Boolean(errors[`${path}.name`])}
              helperText={errors[`${path}.name`] ?? 'The provider’s model name.'}
              margin="dense"
            />
          )}
        </Grid>
        {target.provider !== 'mock' && (
          <Grid size={{ xs: 12, sm: 6 }}>
            <TextField
              id={fieldId(`${path}.credential`)}
              label="Credential (optional)"
              value={target.credential}
              onChange={(event) => set('credential', event.target.value)}
              error={Boolean(errors[`${path}.credential`])}
              helperText={errors[`${path}.credential`] ?? 'An organisation credential’s name; empty: the one named “default”, else the server’s key.'}
              margin="dense"
            />
          </Grid>
        )}
        {problem && (
          <Grid size={12}>
            <Alert severity="warning" role="status" aria-label={`${label}: provider not configured`}>
              {problem}
            </Alert>
          </Grid>
        )}
        {number('temperature', 'Temperature', '0 to 2; empty: provider default.')}
        {number('top_p', 'Top-p', '0 to 1.')}
        {number('max_tokens', 'Max tokens', 'Output, per call.')}
        <Grid size={12}>
          <TextField
            id={fieldId(`${path}.options`)}
            label="Other options (JSON)"
            multiline
            minRows={2}
            value={target.extra}
            onChange={(event) => set('extra', event.target.value)}
            error={Boolean(errors[`${path}.options`])}
            helperText={
              errors[`${path}.options`] ??
              (target.provider === 'mock'
                ? 'E.g. {"script": [{"text": "Hi"}]} for scripted, {"reply": "…"} for fixed.'
                : 'Passed to the provider as they are; optional.')
            }
            placeholder="{}"
            slotProps={{ htmlInput: { spellCheck: false, style: { fontFamily: 'monospace' } } }}
            margin="dense"
          />
        </Grid>
      </Grid>
    </Box>
  );
}

function ModelSectionFields({ draft, update, errors }: SectionProps) {
  const availability = useProviderAvailability();
  const setFallback = (index: number, target: TargetDraft) =>
    update((d) => ({ ...d, fallbacks: d.fallbacks.map((item, i) => (i === index ? target : item)) }));
  const move = (index: number, by: -1 | 1) =>
    update((d) => {
      const fallbacks = [...d.fallbacks];
      const [item] = fallbacks.splice(index, 1);
      if (item) fallbacks.splice(index + by, 0, item);
      return { ...d, fallbacks };
    });
  return (
    <>
      <TargetFields
        target={draft.model}
        path="model"
        errors={errors}
        label="Primary model"
        availability={availability}
        onChange={(model) => update((d) => ({ ...d, model }))}
      />
      <Typography variant="h3" sx={{ mt: 3, mb: 1 }}>
        Fallback chain
      </Typography>
      <Typography color="text.secondary" sx={{ mb: 1 }}>
        Tried in order when the model above fails with a retryable error (rate limit, timeout, outage).
      </Typography>
      {errors['model.fallbacks'] && (
        <Typography color="error" role="alert">
          {errors['model.fallbacks']}
        </Typography>
      )}
      <Stack spacing={2}>
        {draft.fallbacks.map((target, index) => (
          <Paper key={target.key} variant="outlined" sx={{ p: 2 }}>
            <Stack direction="row" sx={{ alignItems: 'center', justifyContent: 'space-between', mb: 1 }}>
              <Typography sx={{ fontWeight: 600 }}>Fallback {index + 1}</Typography>
              <Box>
                <Tooltip title="Move up">
                  <span>
                    <IconButton aria-label={`Move fallback ${index + 1} up`} disabled={index === 0} onClick={() => move(index, -1)}>
                      <ArrowUpwardIcon />
                    </IconButton>
                  </span>
                </Tooltip>
                <Tooltip title="Move down">
                  <span>
                    <IconButton
                      aria-label={`Move fallback ${index + 1} down`}
                      disabled={index === draft.fallbacks.length - 1}
                      onClick={() => move(index, 1)}
                    >
                      <ArrowDownwardIcon />
                    </IconButton>
                  </span>
                </Tooltip>
                <Tooltip title="Remove">
                  <IconButton
                    aria-label={`Remove fallback ${index + 1}`}
                    onClick={() => update((d) => ({ ...d, fallbacks: d.fallbacks.filter((_, i) => i !== index) }))}
                  >
                    <DeleteIcon />
                  </IconButton>
                </Tooltip>
              </Box>
            </Stack>
            <TargetFields
              target={target}
              path={`model.fallbacks.${index}`}
              errors={errors}
              label={`Fallback ${index + 1}`}
              availability={availability}
              onChange={(next) => setFallback(index, next)}
            />
          </Paper>
        ))}
      </Stack>
      <Button
        startIcon={<AddIcon />}
        sx={{ mt: 1 }}
        disabled={draft.fallbacks.length >= MAX_FALLBACKS}
        onClick={() => update((d) => ({ ...d, fallbacks: [...d.fallbacks, emptyTarget(d.model.provider)] }))}
      >
        Add fallback{draft.fallbacks.length >= MAX_FALLBACKS ? ` (at most ${MAX_FALLBACKS})` : ''}
      </Button>
    </>
  );
}

/** Re-renders only when its part of the draft (or the errors) changed: typing elsewhere stays cheap. */
export const ModelSection = memo(
  ModelSectionFields,
  (a: SectionProps, b: SectionProps) =>
    a.update === b.update &&
    a.errors === b.errors &&
    a.draft.model === b.draft.model && a.draft.fallbacks === b.draft.fallbacks,
);
