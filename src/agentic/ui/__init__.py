"""Serving the built web UI (from `ui/static`, produced by `make ui`) with a single-page-app fallback."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(str(files("agentic.ui") / "static"))

# Paths that belong to the API: never answered with the UI's index.html.
_API_PREFIXES = ("/v1/", "/v1", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc")

_NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agentic</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>Agentic</h1>
<p>The API is running. The web UI has not been built in this installation:
run <code>make ui</code> (or <code>make run</code>, which builds it when Node.js is available).</p>
<ul><li><a href="/docs">API documentation</a></li><li><a href="/readyz">Readiness</a></li>
<li><a href="/v1/system/info">System information</a></li></ul>
</body></html>
"""


def _wants_html(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"accept":
            return b"text/html" in value
    return False


class SPAStaticFiles(StaticFiles):
    """Static files; an unknown path requested by a browser gets `index.html` so client-side routes work."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file at `path`, or `index.html` for a browser navigation to an unknown path."""
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            request_path: str = scope["path"]
            if exc.status_code != 404 or not _wants_html(scope) or request_path.startswith(_API_PREFIXES):
                raise
            return await super().get_response("index.html", scope)


def ui_built() -> bool:
    """True when `make ui` has produced the static bundle."""
    return (STATIC_DIR / "index.html").is_file()


def not_built_response() -> HTMLResponse:
    """A plain page that explains how to build the UI."""
    return HTMLResponse(_NOT_BUILT_PAGE)
