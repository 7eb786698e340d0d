import AddIcon from '@mui/icons-material/Add';
import SearchIcon from '@mui/icons-material/Search';
import {
  Chip,
  InputAdornment,
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
import { useInfiniteQuery } from '@tanstack/react-query';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useEffect, useState } from 'react';
import { agentQueries } from '../../api/queries/agents';
import { usePermissions } from '../../app/auth';
import { LoadMore } from '../../components/LoadMore';
import { PageHeader } from '../../components/PageHeader';
import { EmptyState, ErrorState, LoadingState, NoAccess } from '../../components/States';
import { Time } from '../../components/Time';
import { ButtonLink, RouterLink } from '../../components/links';
import { useDebouncedValue } from '../../components/useDebouncedValue';

const hideOnPhone = { display: { xs: 'none', sm: 'table-cell' } } as const;

export function AgentsList() {
  const { can } = usePermissions();
  const { q } = useSearch({ from: '/app/agents' });
  const navigate = useNavigate({ from: '/agents' });
  const [search, setSearch] = useState(q ?? '');
  const debounced = useDebouncedValue(search.trim(), 300);

  useEffect(() => {
    if ((debounced || undefined) !== q) void navigate({ search: { q: debounced || undefined }, replace: true });
  }, [debounced, q, navigate]);

  const agents = useInfiniteQuery({ ...agentQueries.list({ q }), enabled: can('agents:read') });
  const items = agents.data?.pages.flatMap((page) => page.items) ?? [];

  return (
    <>
      <PageHeader
        title="Agents"
        description="Agents are versioned: every saved change is a new version that tasks pin."
        actions={
          can('agents:write') && (
            <ButtonLink to="/agents/new" variant="contained" startIcon={<AddIcon />}>
              New agent
            </ButtonLink>
          )
        }
      />
      {!can('agents:read') ? (
        <NoAccess what="see agents" />
      ) : (
        <>
          <TextField
            label="Search by name"
            type="search"
            value={search}
            onChange={(event) => setSearch(event.target.value)}
            margin="none"
            sx={{ mb: 2, maxWidth: 420 }}
            slotProps={{ input: { startAdornment: <InputAdornment position="start"><SearchIcon aria-hidden /></InputAdornment> } }}
          />
          {agents.isPending ? (
            <LoadingState label="Loading agents…" />
          ) : agents.isError ? (
            <ErrorState error={agents.error} onRetry={() => void agents.refetch()} />
          ) : items.length === 0 ? (
            q ? (
              <EmptyState title="No agents match" description={`Nothing is named like “${q}”.`} />
            ) : (
              <EmptyState
                title="No agents yet"
                description="An agent is a model, a prompt, tools and policies. Create one to run tasks."
                action={
                  can('agents:write') && (
                    <ButtonLink to="/agents/new" variant="contained">
                      Create your first agent
                    </ButtonLink>
                  )
                }
              />
            )
          ) : (
            <>
              <TableContainer component={Paper} variant="outlined">
                <Table aria-label="Agents">
                  <TableHead>
                    <TableRow>
                      <TableCell>Name</TableCell>
                      <TableCell sx={hideOnPhone}>Visibility</TableCell>
                      <TableCell sx={hideOnPhone} align="right">
                        Version
                      </TableCell>
                      <TableCell>Updated</TableCell>
                    </TableRow>
                  </TableHead>
                  <TableBody aria-busy={agents.isFetching}>
                    {items.map((agent) => (
                      <TableRow key={agent.id} hover>
                        <TableCell sx={{ maxWidth: 480 }}>
                          <RouterLink to="/agents/$agentId" params={{ agentId: agent.id }} search={{ tab: undefined }} sx={{ fontWeight: 600 }}>
                            {agent.name}
                          </RouterLink>
                          {agent.description && (
                            <Typography variant="body2" color="text.secondary" noWrap title={agent.description}>
                              {agent.description}
                            </Typography>
                          )}
                        </TableCell>
                        <TableCell sx={hideOnPhone}>
                          <Chip size="small" variant="outlined" label={agent.visibility === 'org' ? 'Organisation' : 'Private'} />
                        </TableCell>
                        <TableCell sx={hideOnPhone} align="right">
                          v{agent.latest_version}
                        </TableCell>
                        <TableCell>
                          <Time value={agent.updated_at} />
                        </TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              </TableContainer>
              <LoadMore hasNextPage={agents.hasNextPage} isFetchingNextPage={agents.isFetchingNextPage} fetchNextPage={agents.fetchNextPage} />
            </>
          )}
        </>
      )}
    </>
  );
}
