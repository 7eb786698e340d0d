/**
 * Every main screen is checked the same way, at desktop and at phone width: it has finished loading, axe finds
 * no `critical`, `serious` or `moderate` accessibility violation, and a full-page screenshot is saved into
 * `web/e2e/screenshots/<screen>-desktop.png` / `<screen>-phone.png` (emptied at the start of a run; CI's artifact).
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Locator, type Page } from '@playwright/test';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { E2E_DIR, SCREENSHOTS_DIR } from './env';

const BLOCKING = new Set(['critical', 'serious', 'moderate']);

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
const SIZES = [
  ['desktop', DESKTOP],
  ['phone', PHONE],
] as const;

const AXE_DIR = path.join(E2E_DIR, 'test-results', 'axe');

/** What `LoadingState` says while a screen (or part of it) waits for the API. */
const LOADING = /^(Loading|Checking|Drawing the chart|Signing you in|Verifying)/;

type AxeResults = Awaited<ReturnType<AxeBuilder['analyze']>>;
type Violation = AxeResults['violations'][number];

/** The violations, one block each: rule, impact, what to fix, and every offending node's selector and summary. */
export function describeViolations(violations: Violation[]): string {
  return violations
    .map((violation) => {
      const nodes = violation.nodes
        .map((node) => {
          const html = node.html.length > 300 ? `${node.html.slice(0, 300)}…` : node.html;
          const related = [...node.any, ...node.all, ...node.none]
            .flatMap((check) => check.relatedNodes ?? [])
            .map((related) => `\n        related: ${related.target.join(' ')} ${related.html.slice(0, 200)}`)
            .join('');
          return `    at ${node.target.join(' ')}\n      ${html}\n      ${(node.failureSummary ?? '').replace(/\n/g, '\n      ')}${related}`;
        })
        .join('\n');
      return `- ${violation.id} [${violation.impact}] ${violation.help}\n  ${violation.helpUrl}\n${nodes}`;
    })
    .join('\n');
}

/** Wait until the screen has rendered (its heading or dialog), nothing is loading and transitions are over. */
export async function waitForScreen(page: Page, ready?: Locator): Promise<void> {
  await expect(ready ?? page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: LOADING })).toHaveCount(0);
  await settle(page);
  await page.evaluate(() => document.fonts.ready.then(() => undefined));
}

/**
 * Wait for running CSS transitions and animations to end (MUI's dialogs, menus, drawers, accordions); endless
 * ones (spinners) are not waited for. Clicking into an accordion that is still opening can miss: the press
 * focuses a half-clipped button, the browser scrolls it into view, and the release lands elsewhere.
 */
export async function settle(page: Page): Promise<void> {
  await page
    .waitForFunction(
      () =>
        document.getAnimations().every((animation) => animation.playState !== 'running' || animation.effect?.getComputedTiming().iterations === Infinity),
      undefined,
      { timeout: 5_000 },
    )
    .catch(() => undefined);
}

/**
 * axe-core over the whole page (every rule axe runs by default: WCAG 2.x A/AA and best practices); critical,
 * serious and moderate violations fail the test, softly, so the journey goes on and every screen is still
 * checked. Minor ones are attached to the report (printed with E2E_AXE_VERBOSE=1). The issue asked for no
 * serious or critical ones; moderate ones (heading order, content outside landmarks) fail too because the
 * console had none left to excuse.
 */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const blocking = results.violations.filter((violation) => BLOCKING.has(violation.impact ?? ''));
  const minor = results.violations.filter((violation) => !blocking.includes(violation));
  const body = JSON.stringify(results.violations, null, 2);
  await test.info().attach(`axe-${screen}.json`, { body, contentType: 'application/json' });
  // Every screen's findings side by side (CI can upload the folder with the screenshots).
  mkdirSync(AXE_DIR, { recursive: true });
  writeFileSync(path.join(AXE_DIR, `${screen}.json`), body);
  if (minor.length && process.env.E2E_AXE_VERBOSE) {
    console.log(`axe ${screen}: minor (not failing):\n${describeViolations(minor)}`);
  }
  expect.soft(describeViolations(blocking), `axe: critical, serious or moderate violations on ${screen}`).toBe('');
}

/**
 * The page must fit the viewport's width: a layout that scrolls sideways on a phone is broken (a wide table
 * scrolls inside its own box instead). Names the elements that stick out, outermost first.
 */
export async function expectNoSideways(page: Page, screen: string): Promise<void> {
  const outside = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    const sticking = [...document.querySelectorAll('body *')].filter((element) => {
      const box = element.getBoundingClientRect();
      return box.width > 0 && box.right > width + 1;
    });
    return sticking
      .filter((element) => !sticking.some((other) => other !== element && other.contains(element) && other.tagName !== 'BODY'))
      .slice(0, 5)
      .map((element) => `${element.outerHTML.slice(0, 160)}… (right edge ${Math.round(element.getBoundingClientRect().right)} px)`);
  });
  expect.soft(outside, `${screen}: the page scrolls sideways`).toEqual([]);
}

/**
 * Check a screen at both widths: wait for it, scan it with axe, check it fits the width, save a full-page
 * screenshot.
 *
 * @param name File name stem, e.g. `task-inspector`.
 * @param options.ready What shows the screen is there (default: the page's `h1`; a dialog for dialog screens).
 * @param options.only Check one width only (e.g. the phone's navigation drawer).
 */
export async function checkScreen(page: Page, name: string, options: { ready?: Locator; only?: 'desktop' | 'phone' } = {}): Promise<void> {
  await test.step(`screen ${name}: axe and screenshots`, async () => {
    for (const [label, size] of SIZES) {
      if (options.only && options.only !== label) continue;
      await page.setViewportSize(size);
      await waitForScreen(page, options.ready);
      await expectAccessible(page, `${name}-${label}`);
      await expectNoSideways(page, `${name}-${label}`);
      // Fixed and sticky bars are drawn where the viewport is: capture from the top.
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.join(SCREENSHOTS_DIR, `${name}-${label}.png`), fullPage: true, animations: 'disabled' });
    }
    if (!options.only) await page.setViewportSize(DESKTOP);
  });
}
