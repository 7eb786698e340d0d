import { Home } from './pages/Home';
import { NotFound } from './pages/NotFound';
import { Setup } from './pages/Setup';

/** Tiny path router: pages are full page loads; the server falls back to index.html. */
function pageFor(pathname: string) {
  const path = pathname.replace(/\/+$/, '') || '/';
  switch (path) {
    case '/':
      return <Home />;
    case '/setup':
      return <Setup />;
    default:
      return <NotFound />;
  }
}

export function App() {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <a className="brand" href="/">
          Agentic
        </a>
        <nav aria-label="Main">
          <a href="/docs">API docs</a>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {pageFor(window.location.pathname)}
      </main>
    </>
  );
}
