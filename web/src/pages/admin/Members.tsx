import PersonAddIcon from '@mui/icons-material/PersonAdd';
import {
  Alert,
  Box,
  Button,
  FormControlLabel,
  Grid,
  MenuItem,
  Paper,
  Stack,
  Switch,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { orgQueries, useChangeMemberRole, useInvite, useRemoveMember, useRevokeInvitation, useUpdateOrg } from '../../api/queries/orgs';
import type { MemberOut, OrganizationOut, Role } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { FormAlert } from '../../components/FormAlert';
import { OutboxNote } from '../../components/OutboxNote';
import { PageHeader } from '../../components/PageHeader';
import { ErrorState, LoadingState, NoAccess } from '../../components/States';
import { Time } from '../../components/Time';
import { formatDateTime } from '../../components/format';
import { fieldId, useFormErrors, type Errors } from '../../components/useFormErrors';
import { isEmail } from '../auth/validation';

const ROLES: { value: Role; label: string; help: string }[] = [
  { value: 'user', label: 'User', help: 'Builds agents and runs tasks.' },
  { value: 'operator', label: 'Operator', help: 'Also sees every task and handles dead letters.' },
  { value: 'admin', label: 'Admin', help: 'Everything, incl. members, keys, providers and audit.' },
];

function MemberRow({ member, orgId, mayManage, isSelf }: { member: MemberOut; orgId: string; mayManage: boolean; isSelf: boolean }) {
  const change = useChangeMemberRole(orgId);
  const remove = useRemoveMember(orgId);
  const [removing, setRemoving] = useState(false);
  const label = member.display_name ? `${member.display_name} (${member.email})` : member.email;
  const roleLabelId = useId();
  return (
    <TableRow>
      <TableCell>
        <Typography sx={{ fontWeight: 600 }}>{member.display_name || member.email}</Typography>
        {member.display_name && (
          <Typography variant="body2" color="text.secondary">
            {member.email}
          </Typography>
        )}
        {isSelf && (
          <Typography variant="body2" color="text.secondary">
            You
          </Typography>
        )}
      </TableCell>
      <TableCell>
        {mayManage ? (
          <>
            <span id={roleLabelId} className="visually-hidden">
              Role of {label}
            </span>
            <TextField
              select
              size="small"
              margin="none"
              fullWidth={false}
              label="Role"
              value={member.role}
              disabled={change.isPending}
              onChange={(event) => change.mutate({ userId: member.user_id, role: event.target.value as Role })}
              // Named after the member ("Role of Ada"), not just "Role" like every other row.
              slotProps={{ select: { labelId: roleLabelId } }}
              sx={{ minWidth: 130 }}
            >
              {ROLES.map((role) => (
                <MenuItem key={role.value} value={role.value}>
                  {role.label}
                </MenuItem>
              ))}
            </TextField>
            {change.isError && (
              <Typography role="alert" color="error" variant="body2">
                {change.error.message}
              </Typography>
            )}
          </>
        ) : (
          member.role
        )}
      </TableCell>
      <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>
        <Time value={member.joined_at} />
      </TableCell>
      {mayManage && (
        <TableCell align="right">
          <Button size="small" color="error" onClick={() => setRemoving(true)} aria-label={`Remove ${label}`}>
            Remove
          </Button>
          <ConfirmDialog
            open={removing}
            title={`Remove ${member.display_name || member.email}?`}
            confirmLabel="Remove member"
            destructive
            pending={remove.isPending}
            error={remove.error}
            onClose={() => {
              setRemoving(false);
              remove.reset();
            }}
            onConfirm={() => remove.mutate(member.user_id, { onSuccess: () => setRemoving(false) })}
          >
            They lose access to this organisation at once. Their agents, tasks and API keys stay; their keys stop working.
          </ConfirmDialog>
        </TableCell>
      )}
    </TableRow>
  );
}

function Invitations({ orgId }: { orgId: string }) {
  const invitations = useQuery(orgQueries.invitations(orgId));
  const invite = useInvite(orgId);
  const revoke = useRevokeInvitation(orgId);
  const form = useFormErrors();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('user');
  const [sent, setSent] = useState<string | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    if (!isEmail(email)) errors.email = 'Enter the address to invite.';
    if (form.invalid(errors)) return;
    form.reset();
    setSent(null);
    invite.mutate(
      { email: email.trim(), role },
      {
        onSuccess: (created) => {
          setSent(`Invitation mailed to ${created.email}.`);
          setEmail('');
        },
        onError: (error) => form.fail(error),
      },
    );
  };

  return (
    <Paper variant="outlined" component="section" aria-labelledby="invitations-heading" sx={{ p: 2, mb: 3 }}>
      <Typography variant="h2" id="invitations-heading" gutterBottom>
        Invitations
      </Typography>
      <Box component="form" noValidate onSubmit={submit} aria-label="Invite someone">
        <FormAlert message={form.formError} />
        <FormAlert message={sent} severity="success" />
        {sent && <OutboxNote sx={{ mt: 0, mb: 2 }} />}
        <Grid container spacing={2} sx={{ alignItems: 'flex-start' }}>
          <Grid size={{ xs: 12, sm: 6 }}>
            <TextField
              id={fieldId('email')}
              label="Email"
              type="email"
              margin="none"
              value={email}
              onChange={(event) => {
                setEmail(event.target.value);
                form.clearField('email');
              }}
              error={Boolean(form.errors.email)}
              helperText={form.errors.email}
            />
          </Grid>
          <Grid size={{ xs: 8, sm: 3 }}>
            <TextField select id={fieldId('role')} label="Role" margin="none" value={role} onChange={(event) => setRole(event.target.value as Role)}>
              {ROLES.map((option) => (
                <MenuItem key={option.value} value={option.value}>
                  {option.label}
                </MenuItem>
              ))}
            </TextField>
          </Grid>
          <Grid size={{ xs: 4, sm: 3 }}>
            <Button type="submit" variant="contained" startIcon={<PersonAddIcon />} loading={invite.isPending} sx={{ mt: 1 }}>
              Invite
            </Button>
          </Grid>
        </Grid>
      </Box>
      <Typography variant="h3" sx={{ mt: 3, mb: 1 }}>
        Pending
      </Typography>
      {invitations.isPending ? (
        <LoadingState />
      ) : invitations.isError ? (
        <ErrorState error={invitations.error} onRetry={() => void invitations.refetch()} />
      ) : invitations.data.length === 0 ? (
        <Typography color="text.secondary">No pending invitations.</Typography>
      ) : (
        <Table size="small" aria-label="Pending invitations">
          <TableHead>
            <TableRow>
              <TableCell>Email</TableCell>
              <TableCell>Role</TableCell>
              <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Expires</TableCell>
              <TableCell align="right">Actions</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {invitations.data.map((invitation) => (
              <TableRow key={invitation.id}>
                <TableCell sx={{ overflowWrap: 'anywhere' }}>{invitation.email}</TableCell>
                <TableCell>{invitation.role}</TableCell>
                <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>{formatDateTime(invitation.expires_at)}</TableCell>
                <TableCell align="right">
                  <Button
                    size="small"
                    color="error"
                    disabled={revoke.isPending && revoke.variables === invitation.id}
                    onClick={() => revoke.mutate(invitation.id)}
                    aria-label={`Withdraw the invitation to ${invitation.email}`}
                  >
                    Withdraw
                  </Button>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {revoke.isError && (
        <Alert severity="error" sx={{ mt: 1 }}>
          {revoke.error.message}
        </Alert>
      )}
    </Paper>
  );
}

function OrganizationSettings({ org }: { org: OrganizationOut }) {
  const update = useUpdateOrg(org.id);
  const form = useFormErrors();
  const [name, setName] = useState(org.name);
  const [billing, setBilling] = useState(org.billing_email ?? '');
  const [storeContent, setStoreContent] = useState(org.store_llm_content ?? true);
  const [saved, setSaved] = useState(false);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const errors: Errors = {};
    if (!name.trim()) errors.name = 'The organisation needs a name.';
    if (billing.trim() && !isEmail(billing)) errors.billing_email = 'Enter a valid email address, or leave it empty.';
    if (form.invalid(errors)) return;
    form.reset();
    setSaved(false);
    update.mutate(
      { name: name.trim(), billing_email: billing.trim() || null, store_llm_content: storeContent },
      { onSuccess: () => setSaved(true), onError: (error) => form.fail(error) },
    );
  };

  return (
    <Paper variant="outlined" component="section" aria-labelledby="org-heading" sx={{ p: 2, mb: 3 }}>
      <Typography variant="h2" id="org-heading" gutterBottom>
        Organisation
      </Typography>
      <Box component="form" noValidate onSubmit={submit} aria-label="Organisation settings">
        <FormAlert message={form.formError} />
        <FormAlert message={saved ? 'Saved.' : null} severity="success" />
        <TextField
          id={fieldId('name')}
          label="Name"
          value={name}
          onChange={(event) => setName(event.target.value)}
          error={Boolean(form.errors.name)}
          helperText={form.errors.name}
        />
        <TextField
          id={fieldId('billing_email')}
          label="Billing email"
          type="email"
          value={billing}
          onChange={(event) => setBilling(event.target.value)}
          error={Boolean(form.errors.billing_email)}
          helperText={form.errors.billing_email}
        />
        <FormControlLabel
          control={<Switch checked={storeContent} onChange={(event) => setStoreContent(event.target.checked)} />}
          label="Store prompts and model answers (needed to inspect tasks; off: only sizes and usage are kept)"
        />
        <Box>
          <Button type="submit" variant="contained" loading={update.isPending} sx={{ mt: 1 }}>
            Save
          </Button>
        </Box>
      </Box>
    </Paper>
  );
}

export function Members() {
  const { can, me } = usePermissions();
  const orgId = me.organization?.id ?? '';
  const members = useQuery({ ...orgQueries.members(orgId), enabled: can('members:read') && Boolean(orgId) });
  const org = useQuery({ ...orgQueries.detail(orgId), enabled: can('org:manage') && Boolean(orgId) });
  const mayManage = can('members:manage');
  return (
    <>
      <PageHeader title="Members" description={`Who is in ${me.organization?.name ?? 'this organisation'}, and what they may do.`} />
      {!can('members:read') ? (
        <NoAccess what="see members" />
      ) : (
        <>
          <Paper variant="outlined" component="section" aria-labelledby="members-heading" sx={{ p: 2, mb: 3 }}>
            <Typography variant="h2" id="members-heading" gutterBottom>
              People
            </Typography>
            {mayManage && (
              <Stack component="ul" sx={{ m: 0, mb: 2, pl: 2.5 }}>
                {ROLES.map((role) => (
                  <Typography component="li" key={role.value} variant="body2" color="text.secondary">
                    <strong>{role.label}</strong>: {role.help}
                  </Typography>
                ))}
              </Stack>
            )}
            {members.isPending ? (
              <LoadingState label="Loading members…" />
            ) : members.isError ? (
              <ErrorState error={members.error} onRetry={() => void members.refetch()} />
            ) : (
              <TableContainer>
                <Table aria-label="Members">
                  <TableHead>
                    <TableRow>
                      <TableCell>Member</TableCell>
                      <TableCell>Role</TableCell>
                      <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Joined</TableCell>
                      {mayManage && <TableCell align="right">Actions</TableCell>}
                    </TableRow>
                  </TableHead>
                  <TableBody>
                    {members.data.map((member) => (
                      <MemberRow key={member.user_id} member={member} orgId={orgId} mayManage={mayManage} isSelf={member.user_id === me.id} />
                    ))}
                  </TableBody>
                </Table>
              </TableContainer>
            )}
          </Paper>
          {mayManage && <Invitations orgId={orgId} />}
          {can('org:manage') && (org.isError ? <ErrorState error={org.error} /> : org.data ? <OrganizationSettings org={org.data} /> : null)}
        </>
      )}
    </>
  );
}
