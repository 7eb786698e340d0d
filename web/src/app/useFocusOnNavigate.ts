import { useRouterState } from '@tanstack/react-router';
import { useEffect, useRef } from 'react';

const TRIES = 40; // × 50 ms: a page still loading its data renders its heading a little later
const INTERVAL_MS = 50;

/**
 * After a client-side navigation, move focus to the new page's heading (`#page-title`, the one `h1` every
 * screen has) so screen readers announce it and keyboard users start at the top of the new content. Used by
 * the root route, so public pages (sign in → sign up → reset) get it as well as the signed-in app.
 *
 * It waits for the navigation to resolve (`resolvedLocation`): until then the previous page, and its
 * heading, may still be on screen while the next one loads. The first page load keeps the browser's focus.
 */
export function useFocusOnNavigate() {
  const pathname = useRouterState({ select: (state) => state.resolvedLocation?.pathname });
  const previous = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (pathname === undefined) return;
    if (previous.current === undefined || previous.current === pathname) {
      previous.current = pathname;
      return;
    }
    previous.current = pathname;
    let tries = 0;
    let timer: number | undefined;
    const focus = () => {
      const heading = document.getElementById('page-title');
      if (heading) heading.focus({ preventScroll: false });
      else if (tries++ < TRIES) timer = window.setTimeout(focus, INTERVAL_MS);
      else document.getElementById('main')?.focus();
    };
    focus();
    return () => window.clearTimeout(timer);
  }, [pathname]);
}
