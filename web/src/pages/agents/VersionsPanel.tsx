import {
  Alert,
  Box,
  Button,
  Chip,
  MenuItem,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { agentQueries, useRollbackAgent } from '../../api/queries/agents';
import type { AgentOut, Change } from '../../api/types';
import { usePermissions } from '../../app/auth';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { LoadMore } from '../../components/LoadMore';
import { ErrorState, LoadingState } from '../../components/States';
import { Time } from '../../components/Time';
import { shortId } from '../../components/format';

const OP_COLORS = { added: 'success', removed: 'error', changed: 'warning' } as const;

function Value({ value }: { value: unknown }) {
  if (value === undefined || value === null) return <Typography color="text.secondary">—</Typography>;
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return (
    <Box component="pre" sx={{ m: 0, whiteSpace: 'pre-wrap', overflowWrap: 'anywhere', fontFamily: 'monospace', fontSize: '0.8125rem', maxHeight: 240, overflow: 'auto' }}>
      {text}
    </Box>
  );
}

function Diff({ agentId, from, to }: { agentId: string; from: number; to: number }) {
  const diff = useQuery({ ...agentQueries.diff(agentId, from, to), enabled: from !== to });
  if (from === to) return <Typography sx={{ my: 2 }}>Pick two different versions to compare.</Typography>;
  if (diff.isPending) return <LoadingState label="Comparing…" />;
  if (diff.isError) return <ErrorState error={diff.error} onRetry={() => void diff.refetch()} />;
  const changes: Change[] = diff.data.changes;
  if (changes.length === 0) return <Typography sx={{ my: 2 }}>These versions are identical.</Typography>;
  return (
    <TableContainer component={Paper} variant="outlined" sx={{ mt: 2 }}>
      <Table size="small" aria-label={`Changes from version ${from} to ${to}`}>
        <TableHead>
          <TableRow>
            <TableCell>Field</TableCell>
            <TableCell>Change</TableCell>
            <TableCell>Version {from}</TableCell>
            <TableCell>Version {to}</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {changes.map((change) => (
            <TableRow key={change.path}>
              <TableCell sx={{ fontFamily: 'monospace', overflowWrap: 'anywhere' }}>{change.path}</TableCell>
              <TableCell>
                <Chip size="small" variant="outlined" color={OP_COLORS[change.op]} label={change.op} />
              </TableCell>
              <TableCell sx={{ verticalAlign: 'top' }}>
                <Value value={change.from} />
              </TableCell>
              <TableCell sx={{ verticalAlign: 'top' }}>
                <Value value={change.to} />
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

/** Versions newest first; compare any two; make an earlier one the latest again (a new version). */
export function VersionsPanel({ agent }: { agent: AgentOut }) {
  const { can } = usePermissions();
  const versions = useInfiniteQuery(agentQueries.versions(agent.id));
  const rollback = useRollbackAgent(agent.id);
  const latest = agent.latest_version;
  const [from, setFrom] = useState(Math.max(latest - 1, 1));
  const [to, setTo] = useState(latest);
  const [target, setTarget] = useState<number | null>(null);
  const [done, setDone] = useState<string | null>(null);

  if (versions.isPending) return <LoadingState label="Loading versions…" />;
  if (versions.isError) return <ErrorState error={versions.error} onRetry={() => void versions.refetch()} />;
  const items = versions.data.pages.flatMap((page) => page.items);
  // The chosen versions stay choosable while the list catches up (e.g. right after a rollback).
  const numbers = [...new Set([...items.map((item) => item.version), from, to, latest])].sort((a, b) => b - a);

  return (
    <>
      {done && (
        <Alert severity="success" role="status" sx={{ mb: 2 }} onClose={() => setDone(null)}>
          {done}
        </Alert>
      )}
      <TableContainer component={Paper} variant="outlined">
        <Table size="small" aria-label="Versions">
          <TableHead>
            <TableRow>
              <TableCell>Version</TableCell>
              <TableCell>Saved</TableCell>
              <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>By</TableCell>
              <TableCell align="right">Actions</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {items.map((version) => (
              <TableRow key={version.id}>
                <TableCell>
                  v{version.version} {version.version === latest && <Chip size="small" color="primary" label="latest" sx={{ ml: 1 }} />}
                </TableCell>
                <TableCell>
                  <Time value={version.created_at} />
                </TableCell>
                <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' }, fontFamily: 'monospace' }}>
                  {version.created_by_id ? shortId(version.created_by_id) : '—'}
                </TableCell>
                <TableCell align="right">
                  <Stack direction="row" spacing={1} sx={{ justifyContent: 'flex-end' }}>
                    {version.version > 1 && (
                      <Button
                        size="small"
                        onClick={() => {
                          setFrom(version.version - 1);
                          setTo(version.version);
                        }}
                        aria-label={`Compare version ${version.version} with version ${version.version - 1}`}
                      >
                        Changes
                      </Button>
                    )}
                    {can('agents:write') && version.version !== latest && (
                      <Button size="small" color="warning" onClick={() => setTarget(version.version)} aria-label={`Roll back to version ${version.version}`}>
                        Roll back
                      </Button>
                    )}
                  </Stack>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </TableContainer>
      <LoadMore hasNextPage={versions.hasNextPage} isFetchingNextPage={versions.isFetchingNextPage} fetchNextPage={versions.fetchNextPage} />

      <Typography variant="h2" sx={{ mt: 4, mb: 1 }} id="compare-heading">
        Compare versions
      </Typography>
      {latest < 2 ? (
        <Typography>There is only one version so far.</Typography>
      ) : (
        <>
          <Stack direction="row" spacing={2} role="group" aria-labelledby="compare-heading">
            <TextField select label="From" value={from} onChange={(event) => setFrom(Number(event.target.value))} margin="none" sx={{ width: 140 }}>
              {numbers.map((number) => (
                <MenuItem key={number} value={number}>
                  v{number}
                </MenuItem>
              ))}
            </TextField>
            <TextField select label="To" value={to} onChange={(event) => setTo(Number(event.target.value))} margin="none" sx={{ width: 140 }}>
              {numbers.map((number) => (
                <MenuItem key={number} value={number}>
                  v{number}
                </MenuItem>
              ))}
            </TextField>
          </Stack>
          <Diff agentId={agent.id} from={from} to={to} />
        </>
      )}

      <ConfirmDialog
        open={target !== null}
        title={`Roll back to version ${target ?? ''}?`}
        confirmLabel="Roll back"
        pending={rollback.isPending}
        error={rollback.error}
        onClose={() => {
          setTarget(null);
          rollback.reset();
        }}
        onConfirm={() =>
          target !== null &&
          rollback.mutate(target, {
            onSuccess: (updated) => {
              setDone(`Version ${target}’s configuration is now the latest (version ${updated.latest_version}).`);
              setTarget(null);
              setFrom(updated.latest_version - 1);
              setTo(updated.latest_version);
            },
          })
        }
      >
        This saves version {target}’s configuration as a new latest version. History is kept: nothing is deleted, and running tasks keep
        the version they pinned.
      </ConfirmDialog>
    </>
  );
}
