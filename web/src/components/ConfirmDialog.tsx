import { Alert, Button, Dialog, DialogActions, DialogContent, DialogContentText, DialogTitle } from '@mui/material';
import { useId, type ReactNode } from 'react';
import { errorMessage } from '../api/errors';
import { useFocusFallback } from './useFocusFallback';

interface ConfirmDialogProps {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  destructive?: boolean;
  pending?: boolean;
  error?: unknown;
  onConfirm: () => void;
  onClose: () => void;
  /** Where focus goes after closing when the control that opened it is gone (default: the page's heading). */
  fallbackFocus?: () => HTMLElement | null;
}

/**
 * A modal yes/no question. Focus moves into it and back to the opener when it closes (MUI's focus trap), or
 * to `fallbackFocus` when the opener went away with what was confirmed (a deleted row's button).
 */
export function ConfirmDialog({ open, title, children, confirmLabel, destructive, pending, error, onConfirm, onClose, fallbackFocus }: ConfirmDialogProps) {
  const titleId = useId();
  const bodyId = useId();
  const onExited = useFocusFallback(open, fallbackFocus);
  return (
    <Dialog
      open={open}
      onClose={pending ? undefined : onClose}
      aria-labelledby={titleId}
      aria-describedby={bodyId}
      slotProps={{ transition: { onExited } }}
    >
      <DialogTitle id={titleId}>{title}</DialogTitle>
      <DialogContent>
        <DialogContentText id={bodyId} component="div">
          {children}
        </DialogContentText>
        {error != null && (
          <Alert severity="error" role="alert" sx={{ mt: 2 }}>
            {errorMessage(error)}
          </Alert>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose} disabled={pending}>
          Cancel
        </Button>
        <Button variant="contained" color={destructive ? 'error' : 'primary'} onClick={onConfirm} loading={pending}>
          {confirmLabel}
        </Button>
      </DialogActions>
    </Dialog>
  );
}
