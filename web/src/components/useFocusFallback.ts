import { useCallback, useEffect, useRef } from 'react';

/** The page's heading (every screen has one), or the main region. */
const pageHeading = () => document.getElementById('page-title') ?? document.getElementById('main');

const CHECKS = 20;
const CHECK_MS = 100;
/** A dialog unmounted this soon after closing went away with what held it, before its exit transition ended. */
const CLOSING_MS = 1000;

/**
 * Watch the element that has focus now (as a dialog finishes closing): if it leaves the page and focus is
 * lost with it, put focus on `target`. That element may be inside the dialog (its opener was already gone, so
 * focus could not go back) or the opener itself, removed a moment later (its row refetched away). A click on
 * the page's background also loses focus, but leaves the element in place: that is left alone.
 */
export function focusWhenLost(target: () => HTMLElement | null = pageHeading) {
  const watched = document.activeElement;
  let checks = 0;
  const check = () => {
    const active = document.activeElement;
    if (!active || active === document.body || !active.isConnected) {
      if (!watched || watched === document.body || !watched.isConnected) (target() ?? pageHeading())?.focus();
      return;
    }
    if (active !== watched || ++checks > CHECKS) return; // focus moved on, or things settled
    window.setTimeout(check, CHECK_MS);
  };
  check();
}

/**
 * Dialogs give focus back to the control that opened them (MUI does). When that control is gone (the row it
 * was in was deleted, the button hid once its action was done), focus would fall to the start of the page;
 * this puts it on `fallback` (default: the page's heading) instead.
 *
 * Returns the handler for the dialog's exit transition (`slotProps.transition.onExited`); a dialog unmounted
 * while open (with the row that held it) is covered as well.
 */
export function useFocusFallback(open: boolean, fallback?: () => HTMLElement | null) {
  const latest = useRef({ open, fallback, closedAt: 0 });
  useEffect(() => {
    const closedAt = latest.current.open && !open ? Date.now() : latest.current.closedAt;
    latest.current = { open, fallback, closedAt };
  });
  useEffect(() => {
    const state = latest;
    return () => {
      // Unmounted while open or closing (with the row that held it): check once the removal is committed.
      const { open: wasOpen, closedAt } = state.current;
      if (wasOpen || Date.now() - closedAt < CLOSING_MS) window.setTimeout(() => focusWhenLost(state.current.fallback));
    };
  }, []);
  return useCallback(() => focusWhenLost(latest.current.fallback), []);
}
