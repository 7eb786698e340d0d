/**
 * Styles that hide an element from sight but not from screen readers (announcements, duplicated labels).
 * Sizes are strings on purpose: in `sx`, `width: 1` means 100% and `m: -1` one spacing unit, which made the
 * "hidden" box as wide as the page and the page scroll sideways.
 */
export const visuallyHidden = {
  position: 'absolute',
  width: '1px',
  height: '1px',
  padding: 0,
  margin: '-1px',
  overflow: 'hidden',
  clip: 'rect(0 0 0 0)',
  whiteSpace: 'nowrap',
  border: 0,
} as const;
