import type { RouterHistory } from '@tanstack/react-router';
import { meKeys } from '../api/queries/me';
import { isPublicPath } from './publicPaths';
import { createQueryClient } from './queryClient';
import { createAppRouter } from './router';

/**
 * The query client and router of one app instance, wired together: a query answered 401 (the session ended
 * and could not be refreshed) sends the user to sign in, and back here afterwards.
 */
export function createAppInstance(history?: RouterHistory) {
  const queryClient = createQueryClient({
    onUnauthenticated: () => {
      const { pathname, href } = router.state.location;
      if (isPublicPath(pathname)) return;
      queryClient.removeQueries({ queryKey: meKeys.all });
      void router.navigate({ to: '/login', search: { redirect: href } });
    },
  });
  const router = createAppRouter(queryClient, history);
  return { queryClient, router };
}
