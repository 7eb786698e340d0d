import CheckIcon from '@mui/icons-material/Check';
import CloseIcon from '@mui/icons-material/Close';
import { Alert, AlertTitle, Box, Button, Paper, Stack, TextField, Typography } from '@mui/material';
import { useId, useState } from 'react';
import { useDecideApproval } from '../../api/queries/tasks';
import type { ApprovalOut } from '../../api/types';
import { JsonView } from '../../components/JsonView';
import { StateChip } from '../../components/StateChip';
import { Time } from '../../components/Time';
import { formatDateTime } from '../../components/format';

/**
 * One gated tool call: the exact arguments that will run if approved, and approve/deny with a comment.
 * A request decided elsewhere (409) refreshes into its final state.
 */
export function ApprovalCard({ approval, canDecide }: { approval: ApprovalOut; canDecide: boolean }) {
  const decide = useDecideApproval(approval.task_id);
  const [comment, setComment] = useState('');
  const headingId = useId();
  const pending = approval.status === 'pending';

  return (
    <Paper
      variant="outlined"
      component="section"
      aria-labelledby={headingId}
      sx={{ p: 2, mb: 2, borderColor: pending ? 'warning.main' : undefined, borderWidth: pending ? 2 : 1 }}
    >
      <Stack direction="row" sx={{ justifyContent: 'space-between', alignItems: 'center', gap: 1, flexWrap: 'wrap' }}>
        <Typography variant="h3" component="h2" id={headingId}>
          {pending ? 'Approval needed: ' : 'Approval: '}
          <Box component="span" sx={{ fontFamily: 'monospace' }}>
            {approval.tool}
          </Box>
        </Typography>
        <StateChip state={approval.status} />
      </Stack>
      <Typography color="text.secondary" sx={{ mt: 0.5 }}>
        {approval.reason}. Requested <Time value={approval.requested_at} />
        {pending && <> · denied automatically {formatDateTime(approval.expires_at)}</>}
      </Typography>
      <Typography sx={{ fontWeight: 600, mt: 1 }}>Arguments (exactly what will run)</Typography>
      <JsonView value={approval.arguments} label={`Arguments of ${approval.tool}`} />
      {!pending && approval.comment && (
        <Typography sx={{ mt: 1 }}>
          Comment: <em>{approval.comment}</em>
        </Typography>
      )}
      {pending && canDecide && (
        <Box sx={{ mt: 1 }}>
          <TextField
            label="Comment (optional, audited)"
            value={comment}
            onChange={(event) => setComment(event.target.value)}
            slotProps={{ htmlInput: { maxLength: 2000 } }}
            margin="dense"
          />
          {decide.isError && (
            <Alert severity="error" role="alert" sx={{ my: 1 }}>
              <AlertTitle>The decision was not recorded</AlertTitle>
              {decide.error.message}
            </Alert>
          )}
          <Stack direction="row" spacing={1} sx={{ mt: 1 }}>
            <Button
              variant="contained"
              color="success"
              startIcon={<CheckIcon />}
              loading={decide.isPending && decide.variables.body.decision === 'approve'}
              disabled={decide.isPending}
              onClick={() => decide.mutate({ approvalId: approval.id, body: { decision: 'approve', comment: comment.trim() || null } })}
            >
              Approve
            </Button>
            <Button
              variant="outlined"
              color="error"
              startIcon={<CloseIcon />}
              loading={decide.isPending && decide.variables.body.decision === 'deny'}
              disabled={decide.isPending}
              onClick={() => decide.mutate({ approvalId: approval.id, body: { decision: 'deny', comment: comment.trim() || null } })}
            >
              Deny
            </Button>
          </Stack>
        </Box>
      )}
      {pending && !canDecide && (
        <Typography sx={{ mt: 1 }}>Only the task’s creator or an operator can decide.</Typography>
      )}
    </Paper>
  );
}
