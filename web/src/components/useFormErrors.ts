import { useCallback, useState } from 'react';
import { ApiError, errorMessage, fieldErrors } from '../api/errors';

export type Errors = Record<string, string>;

/** The DOM id of a form field from its path (`model.fallbacks.0.name` → `field-model-fallbacks-0-name`). */
export const fieldId = (path: string) => `field-${path.replace(/[^A-Za-z0-9_-]+/g, '-')}`;

/** Focus the first field (in `order`, then any) that has an error. */
export function focusFirstError(errors: Errors, order: string[] = [], prefix = '') {
  const first = order.find((path) => errors[path]) ?? Object.keys(errors)[0];
  if (!first) return;
  // After React has rendered the error state (aria-invalid); a hidden or missing field is skipped.
  window.requestAnimationFrame(() => document.getElementById(fieldId(prefix + first))?.focus());
}

/**
 * Field and form errors of a form. `fail` takes a thrown error and maps the API's validation details onto
 * the fields (by `loc`; `rename` renames paths, or maps them all when a function), keeping the message for
 * the form; `invalid` reports client-side validation.
 * `prefix` keeps the inputs' ids unique when several forms share a page: give inputs `id={form.id(path)}`.
 */
export function useFormErrors(prefix = '') {
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);

  const reset = useCallback(() => {
    setErrors({});
    setFormError(null);
  }, []);

  const invalid = useCallback((found: Errors, order?: string[]) => {
    setErrors(found);
    if (Object.keys(found).length === 0) return false;
    setFormError('Please correct the highlighted fields.');
    focusFirstError(found, order, prefix);
    return true;
  }, [prefix]);

  const fail = useCallback((error: unknown, order?: string[], rename: Record<string, string> | ((errors: Errors) => Errors) = {}) => {
    let found: Errors = {};
    if (error instanceof ApiError) {
      const fromApi = fieldErrors(error.details);
      if (typeof rename === 'function') found = rename(fromApi);
      else for (const [path, message] of Object.entries(fromApi)) found[rename[path] ?? path] = message;
    }
    setErrors(found);
    setFormError(errorMessage(error));
    focusFirstError(found, order, prefix);
  }, [prefix]);

  const clearField = useCallback((path: string) => {
    setErrors((current) => {
      if (!(path in current)) return current;
      const next = { ...current };
      delete next[path];
      return next;
    });
  }, []);

  const id = useCallback((path: string) => fieldId(prefix + path), [prefix]);

  return { errors, formError, setFormError, reset, invalid, fail, clearField, id };
}
