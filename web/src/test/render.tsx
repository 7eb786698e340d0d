/** Render the real app (router, query client, theme) at a path, against the MSW mock API. */
import { render } from '@testing-library/react';
import userEvent, { PointerEventsCheckLevel } from '@testing-library/user-event';
import { createMemoryHistory } from '@tanstack/react-router';
import type { ReactElement } from 'react';
import { CssBaseline, ThemeProvider } from '@mui/material';
import createCache from '@emotion/cache';
import { CacheProvider } from '@emotion/react';
import { QueryClientProvider } from '@tanstack/react-query';
import { App } from '../App';
import { createQueryClient } from '../app/queryClient';
import { createAppInstance } from '../app/bootstrap';
import { plainTheme as theme } from '../app/theme';

/**
 * Styles are generated but not put into the document: jsdom re-reads every style rule on each
 * `getComputedStyle` (which accessible-name queries call per node), and MUI makes hundreds of rules, so
 * tests run several times faster. Tests assert roles, names and text, never looks.
 */
const styleCache = createCache({ key: 'test' });
styleCache.sheet.insert = () => undefined;

const TEST_DEFAULTS = {
  queries: { retry: false, staleTime: Infinity, refetchOnWindowFocus: false, gcTime: Infinity },
  mutations: { retry: false },
} as const;

export function testQueryClient() {
  const queryClient = createQueryClient();
  queryClient.setDefaultOptions(TEST_DEFAULTS);
  return queryClient;
}

export function renderApp(path: string) {
  const history = createMemoryHistory({ initialEntries: [path] });
  const { queryClient, router } = createAppInstance(history);
  queryClient.setDefaultOptions(TEST_DEFAULTS);
  const user = userEvent.setup({ delay: null, pointerEventsCheck: PointerEventsCheckLevel.Never });
  const result = render(
    <CacheProvider value={styleCache}>
      <App queryClient={queryClient} router={router} theme={theme} />
    </CacheProvider>,
  );
  return { ...result, user, router, queryClient, history };
}

/** Render one component with the providers (no router) — for components that do not link anywhere. */
export function renderWithProviders(ui: ReactElement) {
  const queryClient = testQueryClient();
  const user = userEvent.setup({ delay: null, pointerEventsCheck: PointerEventsCheckLevel.Never });
  const result = render(
    <CacheProvider value={styleCache}>
      <ThemeProvider theme={theme}>
        <CssBaseline />
        <QueryClientProvider client={queryClient}>{ui}</QueryClientProvider>
      </ThemeProvider>
    </CacheProvider>,
  );
  return { ...result, user, queryClient };
}

/** Put `text` into a field in one input event (typing key by key re-renders a big form per key). */
export async function fill(user: ReturnType<typeof userEvent.setup>, element: HTMLElement, text: string) {
  await user.clear(element);
  await user.click(element);
  await user.paste(text);
}
