export function NotFound() {
  return (
    <section className="card narrow">
      <h1>Page not found</h1>
      <p>
        Nothing lives at <code>{window.location.pathname}</code>.
      </p>
      <p>
        <a href="/">Go to the home page</a>
      </p>
    </section>
  );
}
