import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { server } from './server';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// What jsdom lacks and MUI or the router touch. Media queries answer for the window's width (1024 px by
// default: the desktop layout; a test may set `window.innerWidth` for the phone layout).
window.matchMedia = (query: string) => {
  const width = window.innerWidth;
  const min = /min-width:\s*([\d.]+)px/.exec(query);
  const max = /max-width:\s*([\d.]+)px/.exec(query);
  const matches = (!min || width >= Number(min[1])) && (!max || width <= Number(max[1])) && Boolean(min || max);
  return {
    matches,
    media: query,
    onchange: null,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
    addListener: () => undefined,
    removeListener: () => undefined,
    dispatchEvent: () => false,
  } as MediaQueryList;
};
if (!('ResizeObserver' in window)) {
  (window as unknown as { ResizeObserver: unknown }).ResizeObserver = class {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
}
window.scrollTo = () => undefined;
// Downloads make object URLs; jsdom has none.
URL.createObjectURL ??= () => 'blob:test';
URL.revokeObjectURL ??= () => undefined;

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  cleanup();
  server.resetHandlers();
  window.localStorage.clear();
  for (const cookie of document.cookie.split(';')) {
    const name = cookie.split('=')[0]?.trim();
    if (name) document.cookie = `${name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/`;
  }
});
afterAll(() => server.close());

// Role queries skip the costly visibility check (getComputedStyle up the tree for every candidate) —
// closed MUI menus and dialogs are unmounted, so hidden matches are rare; tests that care assert visibility.
// findBy…/waitFor wait up to 3 s (not 1 s): on a shared, busy CI machine a route change with its queries can
// take longer than a second, and a test must not fail for that.
configure({ defaultHidden: true, asyncUtilTimeout: 3000 });

// jsdom computes the whole cascade for `getComputedStyle(el, '::before')` too (it ignores the pseudo-element),
// and accessible-name computation asks for ::before and ::after of every node: answer those with an empty
// style (MUI puts no text content in pseudo-elements).
const computedStyle = window.getComputedStyle.bind(window);
const emptyStyle = document.createElement('div').style;
window.getComputedStyle = ((element: Element, pseudo?: string | null) =>
  pseudo ? emptyStyle : computedStyle(element)) as typeof window.getComputedStyle;
