import { Box, FormControlLabel, Switch, Table, TableBody, TableCell, TableHead, TableRow } from '@mui/material';
import { BarChart } from '@mui/x-charts/BarChart';
import { useState } from 'react';
import { formatCost, formatNumber } from '../../components/format';
import type { UsageDayOut } from '../../api/types';

// Days are UTC days (as the API counts them): label them as such, whatever the browser's zone.
const shortDay = (day: string) => new Date(`${day}T12:00:00Z`).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

/** Tokens and cost per day; the same numbers as a table for screen readers (or anyone who prefers it). */
export function UsageChart({ data }: { data: UsageDayOut[] }) {
  const [asTable, setAsTable] = useState(false);
  return (
    <>
      <FormControlLabel control={<Switch checked={asTable} onChange={(event) => setAsTable(event.target.checked)} />} label="Show as table" />
      {asTable ? (
        <Box sx={{ overflowX: 'auto' }}>
          <Table size="small" aria-label="Usage per day">
            <TableHead>
              <TableRow>
                <TableCell>Day</TableCell>
                <TableCell align="right">LLM calls</TableCell>
                <TableCell align="right">Tokens in</TableCell>
                <TableCell align="right">Tokens out</TableCell>
                <TableCell align="right">Cost</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {data.map((row) => (
                <TableRow key={row.day}>
                  <TableCell>{shortDay(row.day)}</TableCell>
                  <TableCell align="right">{formatNumber(row.calls)}</TableCell>
                  <TableCell align="right">{formatNumber(row.input_tokens)}</TableCell>
                  <TableCell align="right">{formatNumber(row.output_tokens)}</TableCell>
                  <TableCell align="right">{formatCost(row.cost_usd)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Box>
      ) : (
        // The chart's own keyboard navigation announces each bar; the table is the plain alternative. The name
        // goes on this wrapper: the chart would put a `title` on a role="none" element, which axe rejects.
        <Box role="figure" aria-label="Tokens and cost per day" sx={{ width: '100%', minWidth: 0 }}>
          <BarChart
            height={260}
            xAxis={[{ scaleType: 'band', data: data.map((row) => shortDay(row.day)) }]}
            yAxis={[
              { id: 'tokens', label: 'Tokens', width: 60 },
              { id: 'cost', label: 'USD', position: 'right', width: 60 },
            ]}
            series={[
              { data: data.map((row) => row.input_tokens + row.output_tokens), label: 'Tokens', yAxisId: 'tokens', valueFormatter: (value) => formatNumber(value ?? 0) },
              { data: data.map((row) => Number(row.cost_usd.toFixed(6))), label: 'Cost (USD)', yAxisId: 'cost', valueFormatter: (value) => formatCost(value ?? 0) },
            ]}
          />
        </Box>
      )}
    </>
  );
}
