/** The signed-in user inside the app shell, and what they may do. */
import { useSuspenseQuery } from '@tanstack/react-query';
import { useCallback } from 'react';
import { meQuery } from '../api/queries/me';

/** The signed-in user (loaded before any page of the shell renders). */
export function useMe() {
  return useSuspenseQuery(meQuery()).data;
}

export type Permission =
  | 'org:read'
  | 'org:manage'
  | 'members:read'
  | 'members:manage'
  | 'api_keys:own'
  | 'api_keys:manage'
  | 'audit:read'
  | 'providers:manage'
  | 'tools:manage'
  | 'agents:read'
  | 'agents:write'
  | 'agents:manage'
  | 'tasks:run'
  | 'tasks:read'
  | 'tasks:read_all'
  | 'tasks:manage'
  | 'queues:read';

/** `can('agents:write')`: whether the caller's role in the current organisation allows it. */
export function usePermissions() {
  const me = useMe();
  const can = useCallback((permission: Permission) => me.permissions.includes(permission), [me.permissions]);
  return { can, me };
}
