import { memo } from 'react';
import { Autocomplete, Checkbox, FormControlLabel, Grid, MenuItem, TextField, Typography } from '@mui/material';
import { fieldId } from '../../../components/useFormErrors';
import type { PolicyNumber } from './draft';
import type { SectionProps } from './types';

const NUMBERS: { field: PolicyNumber; label: string; help: string }[] = [
  { field: 'max_steps', label: 'Max steps', help: 'LLM turns per run (default 10).' },
  { field: 'max_tokens_per_run', label: 'Token budget per run', help: 'Stops the run once exceeded.' },
  { field: 'max_cost_per_run_usd', label: 'Cost budget per run (USD)', help: 'Stops the run once exceeded.' },
  { field: 'timeout_s', label: 'Run timeout (s)', help: 'The whole task.' },
  { field: 'max_attempts', label: 'Max attempts', help: 'Default 3.' },
  { field: 'backoff_base_s', label: 'Retry backoff base (s)', help: 'Doubles per attempt.' },
  { field: 'backoff_max_s', label: 'Retry backoff cap (s)', help: 'Not below the base.' },
  { field: 'max_concurrent_runs', label: 'Max concurrent runs', help: 'Empty: no cap.' },
  { field: 'approval_timeout_s', label: 'Approval timeout (s)', help: 'Then denied (default 24 h).' },
];

function PoliciesSectionFields({ draft, update, errors }: SectionProps) {
  const policies = draft.policies;
  const set = (change: Partial<typeof policies>) => update((d) => ({ ...d, policies: { ...d.policies, ...change } }));
  const toolNames = draft.tools.map((tool) => tool.name).filter(Boolean);
  return (
    <>
      <Typography color="text.secondary">Empty fields take the platform’s defaults.</Typography>
      <Grid container spacing={2}>
        {NUMBERS.map(({ field, label, help }) => (
          <Grid key={field} size={{ xs: 12, sm: 6 }}>
            <TextField
              id={fieldId(`policies.${field}`)}
              label={label}
              margin="dense"
              value={policies[field]}
              onChange={(event) => set({ [field]: event.target.value })}
              error={Boolean(errors[`policies.${field}`])}
              helperText={errors[`policies.${field}`] ?? help}
              slotProps={{ htmlInput: { inputMode: 'decimal' } }}
            />
          </Grid>
        ))}
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField
            select
            id={fieldId('policies.on_limit')}
            label="At the concurrency cap"
            margin="dense"
            value={policies.on_limit}
            onChange={(event) => set({ on_limit: event.target.value as typeof policies.on_limit })}
            helperText="What happens to new runs."
          >
            <MenuItem value="">Default (queue them)</MenuItem>
            <MenuItem value="enqueue">Queue them</MenuItem>
            <MenuItem value="reject">Refuse them (429)</MenuItem>
          </TextField>
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField
            id={fieldId('policies.retryable_errors')}
            label="Retry only these error classes"
            margin="dense"
            value={policies.retryable_errors}
            onChange={(event) => set({ retryable_errors: event.target.value })}
            error={Boolean(errors['policies.retryable_errors'])}
            helperText={errors['policies.retryable_errors'] ?? 'Comma-separated, e.g. rate_limited, timeout. Empty: the default set.'}
          />
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField
            id={fieldId('policies.non_retryable_errors')}
            label="Never retry these error classes"
            margin="dense"
            value={policies.non_retryable_errors}
            onChange={(event) => set({ non_retryable_errors: event.target.value })}
            error={Boolean(errors['policies.non_retryable_errors'])}
            helperText={errors['policies.non_retryable_errors'] ?? 'Comma-separated.'}
          />
        </Grid>
        <Grid size={12}>
          <FormControlLabel
            control={
              <Checkbox
                checked={policies.tool_allowlist !== null}
                onChange={(event) => set({ tool_allowlist: event.target.checked ? toolNames : null })}
              />
            }
            label="Allow only some of the agent’s tools to be called"
          />
          {policies.tool_allowlist !== null && (
            <Autocomplete
              multiple
              id={fieldId('policies.tool_allowlist')}
              options={toolNames}
              value={policies.tool_allowlist}
              onChange={(_event, value) => set({ tool_allowlist: value })}
              renderInput={(params) => (
                <TextField
                  {...params}
                  label="Allowed tools"
                  error={Boolean(errors['policies.tool_allowlist'])}
                  helperText={errors['policies.tool_allowlist'] ?? 'None selected: no tool may be called.'}
                />
              )}
            />
          )}
        </Grid>
      </Grid>
    </>
  );
}

/** Re-renders only when its part of the draft (or the errors) changed: typing elsewhere stays cheap. */
export const PoliciesSection = memo(
  PoliciesSectionFields,
  (a: SectionProps, b: SectionProps) =>
    a.update === b.update &&
    a.errors === b.errors &&
    a.draft.policies === b.draft.policies && a.draft.tools === b.draft.tools,
);
