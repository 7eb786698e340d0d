import { Alert, Button, Stack, Typography } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { isApiError } from '../../api/errors';
import { meQuery, useAcceptInvitation } from '../../api/queries/me';
import { FormAlert } from '../../components/FormAlert';
import { ButtonLink } from '../../components/links';
import { ErrorState, LoadingState } from '../../components/States';
import { AuthLayout } from './AuthLayout';

/** `/accept-invitation?token=…` from the invitation mail. Needs the invited (verified) account signed in. */
export function AcceptInvitation() {
  const { token } = useSearch({ from: '/accept-invitation' });
  const me = useQuery({ ...meQuery(), retry: false });
  const accept = useAcceptInvitation();
  const navigate = useNavigate();
  const here = `/accept-invitation?token=${encodeURIComponent(token ?? '')}`;

  if (accept.isSuccess) {
    return (
      <AuthLayout title="Welcome aboard">
        <Typography role="status" sx={{ mb: 3 }}>
          You joined <strong>{accept.data.name}</strong> as {accept.data.role}.
        </Typography>
        <Button variant="contained" onClick={() => void navigate({ to: '/' })}>
          Open the dashboard
        </Button>
      </AuthLayout>
    );
  }
  if (!token) {
    return (
      <AuthLayout title="Invitation link incomplete">
        <Typography>
          This page needs the link from your invitation mail. Open the link again, or ask for a new invitation.
        </Typography>
      </AuthLayout>
    );
  }
  if (me.isPending) {
    return (
      <AuthLayout title="Accept invitation">
        <LoadingState />
      </AuthLayout>
    );
  }
  if (me.isError) {
    if (!isApiError(me.error, 401)) {
      return (
        <AuthLayout title="Accept invitation">
          <ErrorState error={me.error} onRetry={() => void me.refetch()} />
        </AuthLayout>
      );
    }
    return (
      <AuthLayout title="Accept invitation">
        <Typography sx={{ mb: 2 }}>
          Sign in with the address the invitation was sent to, or create an account for it first. You will come back
          here to accept.
        </Typography>
        <Stack direction={{ xs: 'column', sm: 'row' }} spacing={1}>
          <ButtonLink to="/login" search={{ redirect: here }} variant="contained">
            Sign in to accept
          </ButtonLink>
          <ButtonLink to="/signup" variant="outlined">
            Create an account
          </ButtonLink>
        </Stack>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title="Accept invitation">
      <Typography sx={{ mb: 2 }}>
        You are signed in as <strong>{me.data.email}</strong>. Accept the invitation to join its organisation.
      </Typography>
      {!me.data.email_verified && (
        <Alert severity="warning" role="note" sx={{ mb: 2 }}>
          Your address is not verified yet: use the link in your verification mail first.
        </Alert>
      )}
      <FormAlert message={accept.isError ? accept.error.message : null} />
      <Button
        variant="contained"
        loading={accept.isPending}
        onClick={() => accept.mutate({ token }, { onSuccess: () => void navigate({ to: '/accept-invitation', search: { token: undefined }, replace: true }) })}
      >
        Accept invitation
      </Button>
    </AuthLayout>
  );
}
