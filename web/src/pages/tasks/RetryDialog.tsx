import { Alert, Box, Button, Dialog, DialogActions, DialogContent, DialogContentText, DialogTitle, MenuItem, TextField } from '@mui/material';
import { useId, useState, type FormEvent } from 'react';
import type { StepOut, TaskRetry } from '../../api/types';
import { fieldId } from '../../components/useFormErrors';

interface RetryDialogProps {
  open: boolean;
  steps: StepOut[];
  /** Preselected step position (from a step's "Retry from this step"). */
  fromStep?: number;
  pending: boolean;
  error: Error | null;
  onClose: () => void;
  onSubmit: (body: TaskRetry) => void;
}

/** Run a finished task again: resume where it stopped, or re-run from a chosen step on. */
export function RetryDialog({ open, steps, fromStep, pending, error, onClose, onSubmit }: RetryDialogProps) {
  const titleId = useId();
  const [from, setFrom] = useState(fromStep ? String(fromStep) : '');
  const [version, setVersion] = useState('');
  const [versionError, setVersionError] = useState<string | null>(null);
  const ordered = [...steps].sort((a, b) => a.position - b.position);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const number = version.trim() ? Number(version) : undefined;
    if (number !== undefined && (!Number.isInteger(number) || number < 1)) {
      setVersionError('A version number (1 or more), or empty for the version the task ran.');
      document.getElementById(fieldId('agent_version'))?.focus();
      return;
    }
    setVersionError(null);
    onSubmit({ from_step: from ? Number(from) : null, agent_version: number ?? null });
  };

  return (
    <Dialog open={open} onClose={pending ? undefined : onClose} aria-labelledby={titleId} fullWidth maxWidth="sm">
      <Box component="form" noValidate onSubmit={submit} aria-labelledby={titleId}>
        <DialogTitle id={titleId}>Retry task</DialogTitle>
        <DialogContent>
          <DialogContentText>
            A new task runs; completed steps before the chosen one are replayed from this task instead of being run again.
          </DialogContentText>
          {error && (
            <Alert severity="error" role="alert" sx={{ mt: 1 }}>
              {error.message}
            </Alert>
          )}
          <TextField select id={fieldId('from_step')} label="Start from" value={from} onChange={(event) => setFrom(event.target.value)}>
            <MenuItem value="">Where it stopped (replay every completed step)</MenuItem>
            {ordered.map((step) => (
              <MenuItem key={step.step_key} value={String(step.position)}>
                Step {step.position}: {step.kind} {step.name}
              </MenuItem>
            ))}
          </TextField>
          <TextField
            id={fieldId('agent_version')}
            label="Agent version (optional)"
            value={version}
            onChange={(event) => setVersion(event.target.value)}
            error={Boolean(versionError)}
            helperText={versionError ?? 'Empty: the version this task ran.'}
            slotProps={{ htmlInput: { inputMode: 'numeric' } }}
          />
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={pending}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" loading={pending}>
            Retry
          </Button>
        </DialogActions>
      </Box>
    </Dialog>
  );
}
