"""The web UI is served by the API process, with a single-page-app fallback for browser navigations."""

import json
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from agentic.api.app import create_app
from agentic.config import ServerSettings, Settings
from agentic.ui import ui_built
from tests.conftest import asgi_client

pytestmark = pytest.mark.usefixtures("backend")


async def test_root_serves_a_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


@pytest.mark.skipif(not ui_built(), reason="web UI not built (run `make ui`)")
async def test_client_side_routes_fall_back_to_index(client: httpx.AsyncClient) -> None:
    index = (await client.get("/")).text
    response = await client.get("/setup", params={"token": "x"}, headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.text == index


@pytest.mark.skipif(not ui_built(), reason="web UI not built (run `make ui`)")
async def test_missing_asset_is_a_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/assets/nope.js", headers={"accept": "*/*"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_ui_can_be_disabled(settings: Settings) -> None:
    settings.server = ServerSettings(ui_enabled=False)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        response = await client.get("/", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "Agentic API"
    assert "/v1/setup" in spec["paths"]
    assert "/v1/system/info" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


def test_the_web_clients_spec_is_the_apis_spec(settings: Settings) -> None:
    """`web/openapi.json` (what the UI's typed client is generated from) must be the API's current spec.

    After an API change: `cd web && npm run gen:api` (writes the spec, then the types; `npm run check:api`
    checks the types against the spec).
    """
    committed = json.loads((Path(__file__).parents[2] / "web" / "openapi.json").read_text(encoding="utf-8"))
    current = json.loads(json.dumps(create_app(settings, run_workers=False).openapi(), sort_keys=True))
    assert committed == current, "web/openapi.json is stale: run `cd web && npm run gen:api`"
