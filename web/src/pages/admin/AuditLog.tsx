import {
  Box,
  Button,
  Collapse,
  Grid,
  IconButton,
  Paper,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import KeyboardArrowDownIcon from '@mui/icons-material/KeyboardArrowDown';
import KeyboardArrowUpIcon from '@mui/icons-material/KeyboardArrowUp';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useState, type FormEvent } from 'react';
import { auditQueries, type AuditFilters } from '../../api/queries/audit';
import type { AuditEventOut } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { JsonView } from '../../components/JsonView';
import { LoadMore } from '../../components/LoadMore';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState, ErrorState, LoadingState, NoAccess } from '../../components/States';
import { formatDateTime, shortId } from '../../components/format';

function Row({ event }: { event: AuditEventOut }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <TableRow>
        <TableCell padding="checkbox">
          <IconButton size="small" aria-label={open ? `Hide details of ${event.action}` : `Show details of ${event.action}`} aria-expanded={open} onClick={() => setOpen(!open)}>
            {open ? <KeyboardArrowUpIcon /> : <KeyboardArrowDownIcon />}
          </IconButton>
        </TableCell>
        <TableCell sx={{ whiteSpace: 'nowrap' }}>{formatDateTime(event.created_at)}</TableCell>
        <TableCell sx={{ fontFamily: 'monospace' }}>{event.action}</TableCell>
        <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>
          {event.actor_type}
          {event.actor_id && <Box component="span" sx={{ fontFamily: 'monospace' }}> {shortId(event.actor_id)}</Box>}
        </TableCell>
        <TableCell sx={{ display: { xs: 'none', md: 'table-cell' }, overflowWrap: 'anywhere' }}>
          {event.target_type ? `${event.target_type} ${event.target_id ? shortId(event.target_id) : ''}` : '—'}
        </TableCell>
      </TableRow>
      <TableRow>
        <TableCell colSpan={5} sx={{ py: 0, borderBottom: open ? undefined : 'none' }}>
          <Collapse in={open} unmountOnExit>
            <Box sx={{ py: 1 }}>
              <Typography variant="body2">
                Address {event.ip ?? '—'} · request {event.request_id ?? '—'}
              </Typography>
              <Typography variant="body2" sx={{ overflowWrap: 'anywhere' }}>
                {event.user_agent ?? ''}
              </Typography>
              <JsonView value={{ actor_id: event.actor_id, target_id: event.target_id, details: event.details }} label={`Details of ${event.action}`} maxHeight={240} />
            </Box>
          </Collapse>
        </TableCell>
      </TableRow>
    </>
  );
}

/** Who did what, when; filter by action (exact or a family like `auth.*`) and time. */
export function AuditLog() {
  const { can } = usePermissions();
  const search = useSearch({ from: '/app/admin/audit' });
  const navigate = useNavigate({ from: '/admin/audit' });
  const [action, setAction] = useState(search.action ?? '');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [filters, setFilters] = useState<AuditFilters>({ action: search.action });
  const events = useInfiniteQuery({ ...auditQueries.list(filters), enabled: can('audit:read') });
  const items = events.data?.pages.flatMap((page) => page.items) ?? [];

  const apply = (event: FormEvent) => {
    event.preventDefault();
    const next = {
      action: action.trim() || undefined,
      since: since ? new Date(since).toISOString() : undefined,
      until: until ? new Date(until).toISOString() : undefined,
    };
    setFilters(next);
    void navigate({ search: { action: next.action }, replace: true });
  };

  return (
    <>
      <PageHeader title="Audit log" description="Every sign-in, permission change and administrative action, newest first." />
      {!can('audit:read') ? (
        <NoAccess what="read the audit log" />
      ) : (
        <>
          <Box component="form" onSubmit={apply} aria-label="Filter the audit log" sx={{ mb: 2 }}>
            <Grid container spacing={2} sx={{ alignItems: 'center' }}>
              <Grid size={{ xs: 12, sm: 4 }}>
                <TextField label="Action" placeholder="auth.* or agent.updated" margin="none" value={action} onChange={(event) => setAction(event.target.value)} />
              </Grid>
              <Grid size={{ xs: 6, sm: 3 }}>
                <TextField label="From" type="datetime-local" margin="none" value={since} onChange={(event) => setSince(event.target.value)} slotProps={{ inputLabel: { shrink: true } }} />
              </Grid>
              <Grid size={{ xs: 6, sm: 3 }}>
                <TextField label="Until" type="datetime-local" margin="none" value={until} onChange={(event) => setUntil(event.target.value)} slotProps={{ inputLabel: { shrink: true } }} />
              </Grid>
              <Grid size={{ xs: 12, sm: 2 }}>
                <Button type="submit" variant="outlined" fullWidth>
                  Filter
                </Button>
              </Grid>
            </Grid>
          </Box>
          {events.isPending ? (
            <LoadingState label="Loading the audit log…" />
          ) : events.isError ? (
            <ErrorState error={events.error} onRetry={() => void events.refetch()} />
          ) : items.length === 0 ? (
            <EmptyState title="No records" description={filters.action || filters.since || filters.until ? 'Nothing matches these filters.' : 'Nothing has been recorded yet.'} />
          ) : (
            <>
              <TableContainer component={Paper} variant="outlined">
                <Table size="small" aria-label="Audit records" aria-busy={events.isFetching}>
                  <TableHead>
                    <TableRow>
                      <TableCell padding="checkbox">
                        <span className="visually-hidden">Details</span>
                      </TableCell>
                      <TableCell>When</TableCell>
                      <TableCell>Action</TableCell>
                      <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Actor</TableCell>
                      <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Target</TableCell>
                    </TableRow>
                  </TableHead>
                  <TableBody>
                    {items.map((event) => (
                      <Row key={event.id} event={event} />
                    ))}
                  </TableBody>
                </Table>
              </TableContainer>
              <LoadMore hasNextPage={events.hasNextPage} isFetchingNextPage={events.isFetchingNextPage} fetchNextPage={events.fetchNextPage} />
            </>
          )}
        </>
      )}
    </>
  );
}
