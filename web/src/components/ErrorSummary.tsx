import { Alert, AlertTitle, Link } from '@mui/material';
import type { Errors } from './useFormErrors';
import { fieldId } from './useFormErrors';

/** The element for an error path: the field itself, else the nearest enclosing one that exists. */
function targetFor(path: string): HTMLElement | null {
  const parts = path.split('.');
  while (parts.length) {
    const element = document.getElementById(fieldId(parts.join('.')));
    if (element) return element;
    parts.pop();
  }
  return null;
}

/** A link that moves focus to the field of an error path (or the nearest enclosing one on the page). */
export function FieldLink({ path, children }: { path: string; children: string }) {
  return (
    <Link
      href={`#${fieldId(path)}`}
      color="inherit"
      underline="always" // the colour is the text's: the underline tells it is a link
      onClick={(event) => {
        const target = targetFor(path);
        if (!target) return;
        event.preventDefault();
        target.scrollIntoView?.({ block: 'center' });
        target.focus();
      }}
    >
      {children}
    </Link>
  );
}

/**
 * Every field error of a long form in one list at the top, each a link that moves focus to its field; errors
 * for fields the form does not show are listed too, so none is lost.
 */
export function ErrorSummary({ errors, labels = {}, title }: { errors: Errors; labels?: Record<string, string>; title: string }) {
  const entries = Object.entries(errors);
  if (entries.length === 0) return null;
  return (
    <Alert severity="error" role="alert" sx={{ my: 2 }}>
      <AlertTitle>{title}</AlertTitle>
      <ul style={{ margin: 0, paddingLeft: '1.25rem' }}>
        {entries.map(([path, message]) => (
          <li key={path}>
            <FieldLink path={path}>{labels[path] ?? path}</FieldLink>: {message}
          </li>
        ))}
      </ul>
    </Alert>
  );
}
