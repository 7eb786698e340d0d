import AttachFileIcon from '@mui/icons-material/AttachFile';
import CloseIcon from '@mui/icons-material/Close';
import {
  Alert,
  Box,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  FormHelperText,
  IconButton,
  Stack,
  TextField,
  useMediaQuery,
  useTheme,
} from '@mui/material';
import { useId, useRef, useState, type FormEvent } from 'react';
import type { FileIn } from '../../api/types';
import { ApiError, fieldErrors } from '../../api/errors';
import { SchemaForm, initialValues, mapInputErrors, toInput, type SchemaValues } from '../../components/SchemaForm';
import { fieldId, focusFirstError, type Errors } from '../../components/useFormErrors';

interface RunDialogProps {
  open: boolean;
  title: string;
  submitLabel: string;
  inputSchema: unknown;
  initialInput?: Record<string, unknown> | null;
  /** Show the priority field and file attachments (new runs only). */
  withPriority?: boolean;
  pending: boolean;
  onClose: () => void;
  onSubmit: (run: RunValues, callbacks: { onError: (error: unknown) => void }) => void;
}

export interface RunValues {
  input: Record<string, unknown>;
  priority: number;
  files: FileIn[];
}

/** A name the API accepts for an input file (`[A-Za-z0-9._-][A-Za-z0-9._/-]*`, at most 255 characters). */
export const safeFileName = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9._-]/, '_').slice(0, 255) || 'file';

async function toBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The run form, generated from the agent's input schema; the API's input errors land on the fields. */
export function RunDialog({ open, title, submitLabel, inputSchema, initialInput, withPriority, pending, onClose, onSubmit }: RunDialogProps) {
  const theme = useTheme();
  const phone = useMediaQuery(theme.breakpoints.down('sm'));
  const titleId = useId();
  const [values, setValues] = useState<SchemaValues>(() => initialValues(inputSchema, initialInput));
  const [priority, setPriority] = useState('0');
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [files, setFiles] = useState<File[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const { input, errors: found } = toInput(inputSchema, values);
    const number = Number(priority);
    if (withPriority && (!Number.isInteger(number) || number < -100 || number > 100)) found.priority = 'A whole number from -100 to 100.';
    setErrors(found);
    if (Object.keys(found).length) {
      setFormError('Please correct the highlighted fields.');
      focusFirstError(found);
      return;
    }
    setFormError(null);
    let encoded: FileIn[];
    try {
      encoded = await Promise.all(files.map(async (file) => ({ name: safeFileName(file.name), content_base64: await toBase64(file) })));
    } catch {
      setFormError('A file could not be read.');
      return;
    }
    onSubmit({ input, priority: withPriority ? number : 0, files: encoded }, {
      onError: (error) => {
        const fromServer = error instanceof ApiError ? mapInputErrors(inputSchema, fieldErrors(error.details)) : {};
        setErrors(fromServer);
        setFormError(error instanceof Error ? error.message : 'The run could not be started.');
        focusFirstError(fromServer);
      },
    });
  };

  return (
    <Dialog open={open} onClose={pending ? undefined : onClose} aria-labelledby={titleId} fullWidth maxWidth="sm" fullScreen={phone}>
      <Box component="form" noValidate onSubmit={(event) => void submit(event)} aria-labelledby={titleId}>
        <DialogTitle id={titleId}>{title}</DialogTitle>
        <DialogContent>
          {formError && (
            <Alert severity="error" role="alert" sx={{ mb: 1 }}>
              {formError}
            </Alert>
          )}
          <SchemaForm schema={inputSchema} values={values} onChange={setValues} errors={errors} disabled={pending} />
          {withPriority && (
            <TextField
              id={fieldId('priority')}
              label="Priority"
              value={priority}
              onChange={(event) => setPriority(event.target.value)}
              error={Boolean(errors.priority)}
              helperText={errors.priority ?? 'Higher runs first; -100 to 100.'}
              slotProps={{ htmlInput: { inputMode: 'numeric' } }}
            />
          )}
          {withPriority && (
            <Box sx={{ mt: 1 }}>
              <input
                ref={fileInput}
                type="file"
                multiple
                hidden
                aria-label="Attach files"
                onChange={(event) => {
                  const chosen = [...(event.target.files ?? [])];
                  setFiles((current) => [...current, ...chosen.filter((file) => !current.some((c) => c.name === file.name))]);
                  event.target.value = '';
                }}
              />
              <Button startIcon={<AttachFileIcon />} onClick={() => fileInput.current?.click()} disabled={pending}>
                Attach files
              </Button>
              <FormHelperText>The agent’s tools read them at /workspace/in/&lt;name&gt;.</FormHelperText>
              {files.length > 0 && (
                <Stack component="ul" direction="row" sx={{ flexWrap: 'wrap', gap: 0.5, mt: 1, p: 0, listStyle: 'none' }} aria-label="Attached files">
                  {files.map((file) => (
                    <Box component="li" key={file.name} sx={{ display: 'flex', alignItems: 'center', border: 1, borderColor: 'divider', borderRadius: 4, pl: 1.5 }}>
                      <Box component="span" sx={{ fontFamily: 'monospace', fontSize: '0.875rem' }}>
                        {safeFileName(file.name)}
                      </Box>
                      <IconButton size="small" aria-label={`Remove ${file.name}`} onClick={() => setFiles((current) => current.filter((item) => item !== file))}>
                        <CloseIcon fontSize="small" />
                      </IconButton>
                    </Box>
                  ))}
                </Stack>
              )}
            </Box>
          )}
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={pending}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" loading={pending}>
            {submitLabel}
          </Button>
        </DialogActions>
      </Box>
    </Dialog>
  );
}
