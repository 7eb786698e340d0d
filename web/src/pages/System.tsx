import { Box, Button, Chip, Paper, Table, TableBody, TableCell, TableRow, Typography } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { systemQueries } from '../api/queries/system';
import { PageHeader } from '../components/PageHeader';
import { ErrorState, LoadingState } from '../components/States';

// `degraded`: an optional dependency (Redis) is down; the server still takes traffic.
const CHECK_COLOURS: Record<string, 'success' | 'warning' | 'error'> = { ok: 'success', degraded: 'warning', error: 'error' };

function overallColour(r: { ready: boolean; degraded: boolean }): 'success' | 'warning' | 'error' {
  if (!r.ready) return 'error';
  return r.degraded ? 'warning' : 'success';
}

function overallLabel(r: { ready: boolean; degraded: boolean }): string {
  if (!r.ready) return 'not ready';
  return r.degraded ? 'ready, degraded' : 'ready';
}

/** Version, backends and readiness of this installation (public facts; no tenant data). */
export function SystemStatus() {
  const info = useQuery(systemQueries.info());
  const readiness = useQuery(systemQueries.readiness());
  return (
    <>
      <PageHeader
        title="System status"
        actions={
          <Button variant="outlined" onClick={() => void Promise.all([info.refetch(), readiness.refetch()])} loading={info.isFetching || readiness.isFetching}>
            Refresh
          </Button>
        }
      />
      <Paper variant="outlined" component="section" aria-labelledby="readiness-heading" sx={{ p: 2, mb: 3 }}>
        <Typography variant="h2" id="readiness-heading" gutterBottom>
          Readiness
        </Typography>
        {readiness.isPending ? (
          <LoadingState label="Checking the server…" />
        ) : readiness.isError ? (
          <ErrorState error={readiness.error} onRetry={() => void readiness.refetch()} />
        ) : (
          <Table size="small" aria-labelledby="readiness-heading">
            <TableBody>
              <TableRow>
                <TableCell component="th" scope="row">
                  Overall
                </TableCell>
                <TableCell>
                  <Chip size="small" color={overallColour(readiness.data)} label={overallLabel(readiness.data)} />
                  {readiness.data.degraded && (
                    <Typography variant="body2" color="text.secondary" sx={{ mt: 0.5 }}>
                      Serving normally. An optional service is down: tasks are picked up by polling (a little later) and
                      rate limits are counted per process until it is back.
                    </Typography>
                  )}
                </TableCell>
              </TableRow>
              {Object.entries(readiness.data.checks).map(([name, check]) => (
                <TableRow key={name}>
                  <TableCell component="th" scope="row" sx={{ textTransform: 'capitalize' }}>
                    {name}
                  </TableCell>
                  <TableCell>
                    <Chip size="small" color={CHECK_COLOURS[check.status] ?? 'error'} label={check.status} />{' '}
                    {typeof check.latency_ms === 'number' && (
                      <Typography component="span" variant="body2" color="text.secondary">
                        {check.latency_ms.toFixed(1)} ms
                      </Typography>
                    )}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </Paper>
      <Paper variant="outlined" component="section" aria-labelledby="info-heading" sx={{ p: 2, mb: 3 }}>
        <Typography variant="h2" id="info-heading" gutterBottom>
          Installation
        </Typography>
        {info.isPending ? (
          <LoadingState />
        ) : info.isError ? (
          <ErrorState error={info.error} onRetry={() => void info.refetch()} />
        ) : (
          <Box component="dl" sx={{ display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: '4px 16px', m: 0 }}>
            {[
              ['Version', info.data.version],
              ['Environment', info.data.environment],
              ['Database', info.data.database_backend],
              ['Redis', info.data.redis_configured ? 'configured' : 'not configured'],
            ].map(([label, value]) => (
              <Box key={label} sx={{ display: 'contents' }}>
                <Typography component="dt" color="text.secondary">
                  {label}
                </Typography>
                <Typography component="dd" sx={{ m: 0 }}>
                  {value}
                </Typography>
              </Box>
            ))}
          </Box>
        )}
        <Typography sx={{ mt: 2 }}>
          <a href="/docs">API documentation</a> · <a href="/openapi.json">OpenAPI document</a> · <a href="/metrics">Prometheus metrics</a>
        </Typography>
      </Paper>
    </>
  );
}
