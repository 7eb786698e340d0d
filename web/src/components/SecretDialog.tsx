import { Alert, Button, Checkbox, Dialog, DialogActions, DialogContent, DialogTitle, FormControlLabel, Stack, TextField } from '@mui/material';
import { useId, useRef, useState, type ReactNode } from 'react';
import { CopyButton } from './CopyButton';
import { useFocusFallback } from './useFocusFallback';

interface SecretDialogProps {
  /** The secret; the dialog is open while it is set. */
  secret: string | null;
  title: string;
  label: string;
  children?: ReactNode;
  onClose: () => void;
}

/**
 * A secret shown this once (API key, webhook signing secret): selected on open, with a copy button; closing
 * needs "I have stored it", so a stray click or Escape cannot lose it.
 */
export function SecretDialog({ secret, title, label, children, onClose }: SecretDialogProps) {
  const titleId = useId();
  const [stored, setStored] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  // Often opened as another dialog closes (create, rotate): its opener may be gone by the time it closes.
  const onExited = useFocusFallback(secret !== null);
  return (
    <Dialog
      open={secret !== null}
      aria-labelledby={titleId}
      fullWidth
      maxWidth="sm"
      onClose={() => undefined}
      slotProps={{ transition: { onEntered: () => inputRef.current?.select(), onExited } }}
    >
      <DialogTitle id={titleId}>{title}</DialogTitle>
      <DialogContent>
        <Alert severity="warning" role="note" sx={{ mb: 2 }}>
          This is the only time it is shown. Store it in a secret manager now; if you lose it, rotate it.
        </Alert>
        <TextField
          inputRef={inputRef}
          label={label}
          value={secret ?? ''}
          slotProps={{ htmlInput: { readOnly: true, spellCheck: false, style: { fontFamily: 'monospace' } } }}
          onFocus={(event) => event.target.select()}
        />
        <Stack direction="row" sx={{ alignItems: 'center', gap: 2, flexWrap: 'wrap' }}>
          <CopyButton text={secret ?? ''} label="Copy" />
          <FormControlLabel control={<Checkbox checked={stored} onChange={(event) => setStored(event.target.checked)} />} label="I have stored it" />
        </Stack>
        {children}
      </DialogContent>
      <DialogActions>
        <Button
          variant="contained"
          disabled={!stored}
          onClick={() => {
            setStored(false);
            onClose();
          }}
        >
          Done
        </Button>
      </DialogActions>
    </Dialog>
  );
}
