import {
  Autocomplete,
  Box,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  FormControl,
  FormControlLabel,
  FormHelperText,
  FormLabel,
  Stack,
  Switch,
  TextField,
  Typography,
  useMediaQuery,
  useTheme,
} from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useId, useMemo, useState, type FormEvent } from 'react';
import { scheduleQueries, useCreateSchedule, useUpdateSchedule } from '../../../api/queries/schedules';
import type { AgentOut, ScheduleOut, ScheduleUpdate } from '../../../api/types';
import { FormAlert } from '../../../components/FormAlert';
import { SchemaForm, initialValues, mapInputErrors, toInput, type SchemaValues } from '../../../components/SchemaForm';
import { formatDateTimeZone, localTimeZone } from '../../../components/format';
import { useDebouncedValue } from '../../../components/useDebouncedValue';
import { useFormErrors, type Errors } from '../../../components/useFormErrors';
import { CRON_PRESETS, cronProblem, describeCron } from './cron';

/** Ids of this form's fields start with it (the run dialog and other forms may share the page). */
const PREFIX = 'schedule-';
const ORDER = ['name', 'cron', 'timezone', 'priority'];
const mono = { htmlInput: { spellCheck: false, style: { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' } } };

let zones: string[] | null = null;
/** The IANA time zones this browser knows (UTC first). */
function timeZones(): string[] {
  if (zones === null) {
    let known: string[];
    try {
      known = Intl.supportedValuesOf('timeZone');
    } catch {
      known = []; // an older browser: UTC, or the schedule's own zone
    }
    zones = ['UTC', ...known.filter((zone) => zone !== 'UTC')];
  }
  return zones;
}

interface ScheduleDialogProps {
  agent: AgentOut;
  /** The schedule to change; without it, a new one is made. */
  schedule?: ScheduleOut;
  onClose: () => void;
  onSaved: (schedule: ScheduleOut, created: boolean) => void;
}

/**
 * The next runs of the expression as typed, computed by the server exactly as a saved schedule is (cron in
 * the chosen zone, daylight saving included), shown in that zone. Nothing while the expression is incomplete;
 * the server's refusal (e.g. 30 February) in words.
 */
function NextRuns({ cron, timezone, valid }: { cron: string; timezone: string; valid: boolean }) {
  const expression = useDebouncedValue(cron.trim().replace(/\s+/g, ' '), 400);
  const zone = timezone || 'UTC';
  const preview = useQuery({ ...scheduleQueries.preview(expression, zone), enabled: valid && expression !== '' });
  if (!valid || expression === '' || preview.isPending) return null;
  return (
    <Box role="status" sx={{ mb: 1 }}>
      {preview.isError ? (
        <Typography variant="body2" color="error">
          {preview.error.message}
        </Typography>
      ) : (
        <>
          <Typography variant="body2" sx={{ fontWeight: 600 }}>
            Next runs
          </Typography>
          <Box component="ul" sx={{ m: 0, pl: 2.5 }}>
            {preview.data.runs.map((run) => (
              <Typography component="li" variant="body2" key={run}>
                {formatDateTimeZone(run, zone)}
              </Typography>
            ))}
          </Box>
        </>
      )}
    </Box>
  );
}

/**
 * Create or change a cron schedule of an agent: name, expression (with common ones a click away), time zone,
 * the input each run gets (the agent's run form), priority, and whether it is enabled. The API's errors (an
 * expression or zone it refuses, input that does not fit the schema) land on their fields.
 */
export function ScheduleDialog({ agent, schedule, onClose, onSaved }: ScheduleDialogProps) {
  const theme = useTheme();
  const phone = useMediaQuery(theme.breakpoints.down('sm'));
  const titleId = useId();
  const create = useCreateSchedule();
  const update = useUpdateSchedule();
  const pending = create.isPending || update.isPending;
  const form = useFormErrors(PREFIX);
  const schema = agent.input_schema;

  const [name, setName] = useState(schedule?.name ?? '');
  const [cron, setCron] = useState(schedule?.cron ?? '');
  const [timezone, setTimezone] = useState(schedule?.timezone ?? localTimeZone());
  const [values, setValues] = useState<SchemaValues>(() => initialValues(schema, schedule?.input ?? null));
  const [priority, setPriority] = useState(String(schedule?.priority ?? 0));
  const [enabled, setEnabled] = useState(schedule?.enabled ?? true);
  const zoneOptions = useMemo(() => {
    const all = timeZones();
    return timezone && !all.includes(timezone) ? [timezone, ...all] : all;
  }, [timezone]);
  const described = describeCron(cron);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    const trimmedName = name.trim();
    if (!trimmedName) errors.name = 'Give the schedule a name.';
    else if (trimmedName.length > 200) errors.name = 'Use at most 200 characters.';
    const problem = cronProblem(cron);
    if (problem) errors.cron = problem;
    if (!timezone) errors.timezone = 'Choose a time zone.';
    const number = Number(priority.trim());
    if (!priority.trim() || !Number.isInteger(number) || number < -100 || number > 100) errors.priority = 'A whole number from -100 to 100.';
    const { input, errors: inputErrors } = toInput(schema, values);
    Object.assign(errors, inputErrors);
    if (form.invalid(errors, ORDER)) return;
    form.reset();

    const fail = (error: unknown) => form.fail(error, ORDER, (found) => mapInputErrors(schema, found));
    const fields = { name: trimmedName, cron: cron.trim().replace(/\s+/g, ' '), timezone, input, priority: number, enabled };
    if (!schedule) {
      create.mutate({ agent_id: agent.id, ...fields }, { onSuccess: (saved) => onSaved(saved, true), onError: fail });
      return;
    }
    // Only what changed: resending the expression or zone would move a pending run (the API recomputes it).
    const body: ScheduleUpdate = {};
    if (fields.name !== schedule.name) body.name = fields.name;
    if (fields.cron !== schedule.cron) body.cron = fields.cron;
    if (fields.timezone !== schedule.timezone) body.timezone = fields.timezone;
    if (JSON.stringify(fields.input) !== JSON.stringify(schedule.input)) body.input = fields.input;
    if (fields.priority !== schedule.priority) body.priority = fields.priority;
    if (fields.enabled !== schedule.enabled) body.enabled = fields.enabled;
    if (Object.keys(body).length === 0) {
      onClose();
      return;
    }
    update.mutate({ id: schedule.id, body }, { onSuccess: (saved) => onSaved(saved, false), onError: fail });
  };

  return (
    <Dialog open onClose={pending ? undefined : onClose} aria-labelledby={titleId} fullWidth maxWidth="sm" fullScreen={phone}>
      <Box component="form" noValidate onSubmit={submit} aria-labelledby={titleId}>
        <DialogTitle id={titleId}>{schedule ? `Edit ${schedule.name}` : 'New schedule'}</DialogTitle>
        <DialogContent>
          <FormAlert message={form.formError} />
          <TextField
            id={form.id('name')}
            label="Name"
            required
            value={name}
            onChange={(event) => {
              setName(event.target.value);
              form.clearField('name');
            }}
            error={Boolean(form.errors.name)}
            helperText={form.errors.name ?? 'For you and your colleagues, e.g. “Morning digest”.'}
            slotProps={{ htmlInput: { maxLength: 200 } }}
          />
          <TextField
            id={form.id('cron')}
            label="Cron expression"
            required
            value={cron}
            placeholder="0 9 * * 1-5"
            onChange={(event) => {
              setCron(event.target.value);
              form.clearField('cron');
            }}
            error={Boolean(form.errors.cron)}
            helperText={
              form.errors.cron ??
              (described ? `${described}, ${timezone || 'UTC'} time.` : 'Five fields: minute hour day-of-month month weekday, e.g. */15 * * * *.')
            }
            slotProps={mono}
          />
          <Stack direction="row" role="group" aria-label="Common schedules" sx={{ flexWrap: 'wrap', gap: 0.5, mb: 1 }}>
            {CRON_PRESETS.map((preset) => (
              <Button
                key={preset.cron}
                size="small"
                variant={cron.trim() === preset.cron ? 'contained' : 'outlined'}
                aria-pressed={cron.trim() === preset.cron}
                onClick={() => {
                  setCron(preset.cron);
                  form.clearField('cron');
                }}
              >
                {preset.label}
              </Button>
            ))}
          </Stack>
          <NextRuns cron={cron} timezone={timezone} valid={!cronProblem(cron) && !form.errors.cron} />
          <Autocomplete
            id={form.id('timezone')}
            options={zoneOptions}
            value={timezone || null}
            onChange={(_event, value) => {
              setTimezone(value ?? '');
              form.clearField('timezone');
            }}
            autoHighlight
            disableClearable={Boolean(timezone)}
            renderInput={(params) => (
              <TextField
                {...params}
                label="Time zone"
                required
                error={Boolean(form.errors.timezone)}
                helperText={form.errors.timezone ?? 'The expression is read in this zone (daylight saving included).'}
              />
            )}
          />
          <FormControl component="fieldset" sx={{ mt: 2, display: 'block' }}>
            <FormLabel component="legend">Input of each run</FormLabel>
            <SchemaForm schema={schema} values={values} onChange={setValues} errors={form.errors} idPrefix={PREFIX} disabled={pending} />
          </FormControl>
          {form.errors.input && <FormHelperText error>{form.errors.input}</FormHelperText>}
          <TextField
            id={form.id('priority')}
            label="Priority"
            value={priority}
            onChange={(event) => {
              setPriority(event.target.value);
              form.clearField('priority');
            }}
            error={Boolean(form.errors.priority)}
            helperText={form.errors.priority ?? 'Higher runs first; -100 to 100.'}
            slotProps={{ htmlInput: { inputMode: 'numeric' } }}
          />
          <FormControlLabel control={<Switch checked={enabled} onChange={(event) => setEnabled(event.target.checked)} />} label="Enabled" />
          <FormHelperText sx={{ mt: 0 }}>A paused schedule keeps its settings and starts no runs.</FormHelperText>
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={pending}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" loading={pending}>
            {schedule ? 'Save schedule' : 'Create schedule'}
          </Button>
        </DialogActions>
      </Box>
    </Dialog>
  );
}
