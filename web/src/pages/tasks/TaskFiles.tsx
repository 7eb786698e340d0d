import DownloadIcon from '@mui/icons-material/Download';
import { Alert, Button, Chip, Table, TableBody, TableCell, TableRow, Typography } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../../api/client';
import { toApiError } from '../../api/errors';
import { taskQueries } from '../../api/queries/tasks';
import type { TaskFileOut } from '../../api/types';
import { ErrorState } from '../../components/States';
import { formatNumber } from '../../components/format';

const size = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 1024 ** 2 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 ** 2).toFixed(1)} MB`);

async function download(taskId: string, file: TaskFileOut) {
  const { data, error, response } = await api.GET('/v1/tasks/{task_id}/files/{file_id}', {
    params: { path: { task_id: taskId, file_id: file.id } },
    parseAs: 'blob',
  });
  if (!response.ok || !data) throw toApiError(response.status, error);
  const url = URL.createObjectURL(data);
  const link = document.createElement('a');
  link.href = url;
  link.download = file.name.split('/').pop() || 'file';
  link.click();
  URL.revokeObjectURL(url);
}

/** Files given with the task and files its tools wrote; downloaded, never opened in the page. */
export function TaskFiles({ taskId }: { taskId: string }) {
  const files = useQuery(taskQueries.files(taskId));
  const [failed, setFailed] = useState<unknown>(null);
  if (files.isPending) return null;
  if (files.isError) return <ErrorState error={files.error} onRetry={() => void files.refetch()} />;
  if (files.data.length === 0) return <Typography color="text.secondary">No files.</Typography>;
  return (
    <>
      {failed != null && (
        <Alert severity="error" role="alert" onClose={() => setFailed(null)}>
          {failed instanceof Error ? failed.message : 'The download failed.'}
        </Alert>
      )}
      <Table size="small" aria-label="Files">
        <TableBody>
          {files.data.map((file) => (
            <TableRow key={file.id}>
              <TableCell sx={{ fontFamily: 'monospace', overflowWrap: 'anywhere' }}>{file.name}</TableCell>
              <TableCell>
                <Chip size="small" variant="outlined" label={file.direction === 'in' ? 'input' : 'output'} />
              </TableCell>
              <TableCell align="right" title={`${formatNumber(file.size)} bytes`}>
                {size(file.size)}
              </TableCell>
              <TableCell align="right">
                <Button size="small" startIcon={<DownloadIcon />} aria-label={`Download ${file.name}`} onClick={() => download(taskId, file).catch(setFailed)}>
                  Download
                </Button>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </>
  );
}
