/**
 * Routes. Public pages (sign in, sign up, links from mails, first-run setup) render on their own; the rest
 * render inside the app shell, which first makes sure the user is signed in (else: to /login and back).
 */
import type { QueryClient } from '@tanstack/react-query';
import {
  createRootRouteWithContext,
  createRoute,
  createRouter,
  lazyRouteComponent,
  Outlet,
  redirect,
  type RouterHistory,
} from '@tanstack/react-router';
import { isApiError } from '../api/errors';
import { meQuery } from '../api/queries/me';
import { getOrgId, setOrgId } from '../api/session';
import { AcceptInvitation } from '../pages/auth/AcceptInvitation';
import { Login } from '../pages/auth/Login';
import { ResetPassword } from '../pages/auth/ResetPassword';
import { Setup } from '../pages/auth/Setup';
import { Signup } from '../pages/auth/Signup';
import { VerifyEmail } from '../pages/auth/VerifyEmail';
import { NotFound } from '../pages/NotFound';
import { AppShell } from './AppShell';
import { RouteError } from './RouteError';
import { safeRedirect, str, taskStates } from './search';
import { useFocusOnNavigate } from './useFocusOnNavigate';
import { LoadingState } from '../components/States';

export interface RouterContext {
  queryClient: QueryClient;
}

/** Every page, public or signed in: after navigating, focus goes to the new page's heading. */
function Root() {
  useFocusOnNavigate();
  return <Outlet />;
}

const rootRoute = createRootRouteWithContext<RouterContext>()({
  component: Root,
  notFoundComponent: NotFound,
});

const tokenSearch = (search: Record<string, unknown>) => ({ token: str(search.token) });

// ---- public ---------------------------------------------------------------------------------------------

const loginRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/login',
  validateSearch: (search: Record<string, unknown>) => ({ redirect: safeRedirect(search.redirect) }),
  component: Login,
});
const signupRoute = createRoute({ getParentRoute: () => rootRoute, path: '/signup', component: Signup });
const verifyEmailRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/verify-email',
  validateSearch: tokenSearch,
  component: VerifyEmail,
});
const resetPasswordRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/reset-password',
  validateSearch: tokenSearch,
  component: ResetPassword,
});
const acceptInvitationRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/accept-invitation',
  validateSearch: tokenSearch,
  component: AcceptInvitation,
});
const setupRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/setup',
  validateSearch: tokenSearch,
  component: Setup,
});

// ---- the signed-in app ----------------------------------------------------------------------------------

const appRoute = createRoute({
  getParentRoute: () => rootRoute,
  id: 'app',
  beforeLoad: async ({ context, location }) => {
    let me;
    try {
      me = await context.queryClient.ensureQueryData(meQuery());
    } catch (error) {
      if (isApiError(error, 401)) throw redirect({ to: '/login', search: { redirect: location.href } });
      throw error;
    }
    // A remembered organisation the user no longer belongs to: forget it and let the API pick.
    if (me.organization === null && getOrgId() !== null && me.organizations.length > 0) {
      setOrgId(null);
      me = await context.queryClient.fetchQuery(meQuery());
    }
    return { me };
  },
  component: AppShell,
  errorComponent: RouteError,
  pendingComponent: () => <LoadingState label="Signing you in…" />,
});

const dashboardRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/',
  component: lazyRouteComponent(() => import('../pages/dashboard/Dashboard'), 'Dashboard'),
});

const agentsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/agents',
  validateSearch: (search: Record<string, unknown>) => ({ q: str(search.q) }),
  component: lazyRouteComponent(() => import('../pages/agents/AgentsList'), 'AgentsList'),
});
const agentNewRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/agents/new',
  component: lazyRouteComponent(() => import('../pages/agents/AgentEditor'), 'AgentCreatePage'),
});
const agentRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/agents/$agentId',
  validateSearch: (search: Record<string, unknown>) => ({
    tab:
      search.tab === 'versions' || search.tab === 'config' || search.tab === 'webhooks' || search.tab === 'schedules' ? search.tab : undefined,
  }),
  component: lazyRouteComponent(() => import('../pages/agents/AgentDetail'), 'AgentDetail'),
});
const agentEditRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/agents/$agentId/edit',
  component: lazyRouteComponent(() => import('../pages/agents/AgentEditor'), 'AgentEditPage'),
});

const tasksRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/tasks',
  validateSearch: (search: Record<string, unknown>) => ({
    state: taskStates(search.state),
    agent_id: str(search.agent_id),
  }),
  component: lazyRouteComponent(() => import('../pages/tasks/TasksList'), 'TasksList'),
});
const taskRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/tasks/$taskId',
  component: lazyRouteComponent(() => import('../pages/tasks/TaskInspector'), 'TaskInspector'),
});
const approvalsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/approvals',
  component: lazyRouteComponent(() => import('../pages/tasks/ApprovalsInbox'), 'ApprovalsInbox'),
});
const deadLettersRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/dead-letters',
  component: lazyRouteComponent(() => import('../pages/operator/DeadLetters'), 'DeadLetters'),
});
const apiKeysRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/settings/api-keys',
  component: lazyRouteComponent(() => import('../pages/settings/ApiKeys'), 'ApiKeys'),
});
const integrationsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/settings/integrations',
  component: lazyRouteComponent(() => import('../pages/settings/Integrations'), 'Integrations'),
});
const membersRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/admin/members',
  component: lazyRouteComponent(() => import('../pages/admin/Members'), 'Members'),
});
const auditRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/admin/audit',
  validateSearch: (search: Record<string, unknown>) => ({ action: str(search.action) }),
  component: lazyRouteComponent(() => import('../pages/admin/AuditLog'), 'AuditLog'),
});
const systemRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/system',
  component: lazyRouteComponent(() => import('../pages/System'), 'SystemStatus'),
});

export const routeTree = rootRoute.addChildren([
  loginRoute,
  signupRoute,
  verifyEmailRoute,
  resetPasswordRoute,
  acceptInvitationRoute,
  setupRoute,
  appRoute.addChildren([
    dashboardRoute,
    agentsRoute,
    agentNewRoute,
    agentRoute,
    agentEditRoute,
    tasksRoute,
    taskRoute,
    approvalsRoute,
    deadLettersRoute,
    apiKeysRoute,
    integrationsRoute,
    membersRoute,
    auditRoute,
    systemRoute,
  ]),
]);

export function createAppRouter(queryClient: QueryClient, history?: RouterHistory) {
  return createRouter({
    routeTree,
    context: { queryClient },
    history,
    defaultPreload: 'intent',
    // Data freshness is TanStack Query's job; the router only orchestrates.
    defaultPreloadStaleTime: 0,
    defaultErrorComponent: RouteError,
    defaultNotFoundComponent: NotFound,
    defaultPendingComponent: () => <LoadingState />,
    scrollRestoration: true,
  });
}

declare module '@tanstack/react-router' {
  interface Register {
    router: ReturnType<typeof createAppRouter>;
  }
}
