import { Alert, type SxProps, type Theme } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { systemQueries } from '../api/queries/system';

/**
 * Said after the server sends mail (sign-up, a new verification link, a password reset, an invitation) when it
 * has no mail server: the message is not in anyone's inbox but in the local outbox, which a newcomer would never
 * guess.
 */
export function OutboxNote({ sx }: { sx?: SxProps<Theme> }) {
  const info = useQuery(systemQueries.info());
  if (info.data?.mail_delivery !== 'outbox') return null;
  return (
    <Alert severity="info" role="note" aria-label="Where the message went" sx={{ mt: 2, ...sx }}>
      This server has no mail server configured: the message was written to the local outbox instead of being
      sent. Whoever runs the server can read it with <code>agentic mail list</code>.
    </Alert>
  );
}
