/** What agents connect to: LLM provider credentials, SQL connections and MCP servers of the organisation. */
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../client';
import type { CredentialCreate, McpServerCreate, McpServerUpdate, SqlConnectionCreate } from '../types';

export const integrationKeys = {
  providers: () => ['provider-credentials'] as const,
  sqlConnections: () => ['sql-connections'] as const,
  mcpServers: () => ['mcp-servers'] as const,
};

export const integrationQueries = {
  providers: () =>
    queryOptions({
      queryKey: integrationKeys.providers(),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/provider-credentials', { signal })),
    }),
  sqlConnections: () =>
    queryOptions({
      queryKey: integrationKeys.sqlConnections(),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/sql-connections', { signal })),
    }),
  mcpServers: () =>
    queryOptions({
      queryKey: integrationKeys.mcpServers(),
      queryFn: ({ signal }) => unwrap(api.GET('/v1/mcp-servers', { signal })),
    }),
};

function useInvalidating<TVariables, TData>(mutationFn: (variables: TVariables) => Promise<TData>, key: readonly string[]) {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn, onSettled: () => queryClient.invalidateQueries({ queryKey: key }) });
}

export const useCreateProvider = () =>
  useInvalidating((body: CredentialCreate) => unwrap(api.POST('/v1/provider-credentials', { body })), integrationKeys.providers());

export const useDeleteProvider = () =>
  useInvalidating(
    (id: string) => unwrap(api.DELETE('/v1/provider-credentials/{credential_id}', { params: { path: { credential_id: id } } })),
    integrationKeys.providers(),
  );

export const useCreateSqlConnection = () =>
  useInvalidating((body: SqlConnectionCreate) => unwrap(api.POST('/v1/sql-connections', { body })), integrationKeys.sqlConnections());

export const useDeleteSqlConnection = () =>
  useInvalidating(
    (id: string) => unwrap(api.DELETE('/v1/sql-connections/{connection_id}', { params: { path: { connection_id: id } } })),
    integrationKeys.sqlConnections(),
  );

export const useCreateMcpServer = () =>
  useInvalidating((body: McpServerCreate) => unwrap(api.POST('/v1/mcp-servers', { body })), integrationKeys.mcpServers());

export const useUpdateMcpServer = () =>
  useInvalidating(
    ({ id, body }: { id: string; body: McpServerUpdate }) =>
      unwrap(api.PATCH('/v1/mcp-servers/{server_id}', { params: { path: { server_id: id } }, body })),
    integrationKeys.mcpServers(),
  );

export const useRefreshMcpServer = () =>
  useInvalidating(
    (id: string) => unwrap(api.POST('/v1/mcp-servers/{server_id}/refresh', { params: { path: { server_id: id } } })),
    integrationKeys.mcpServers(),
  );

export const useDeleteMcpServer = () =>
  useInvalidating(
    (id: string) => unwrap(api.DELETE('/v1/mcp-servers/{server_id}', { params: { path: { server_id: id } } })),
    integrationKeys.mcpServers(),
  );
