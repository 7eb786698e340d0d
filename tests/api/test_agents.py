"""Agents over HTTP: CRUD with immutable versions, diff, rollback, clone, export/import, render, access."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Agent, AgentVersion, AuditEvent, Role, Schedule
from agentic.resources import Resources
from agentic.tools import sandbox
from tests.support.accounts import Account, make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "topic": {"type": "string", "minLength": 1},
        "audience": {"type": "string", "enum": ["kids", "experts"]},
        "words": {"type": "integer", "minimum": 10, "maximum": 500},
    },
    "required": ["topic"],
    "additionalProperties": False,
}


def agent_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Writer",
        "description": "Writes short texts.",
        "model": {
            "provider": "mock",
            "name": "echo",
            "options": {"temperature": 0.2},
            "fallbacks": [{"provider": "openai", "name": "gpt-4o-mini"}],
        },
        "system_prompt": "You write for {{ audience | default('everyone') }}.",
        "prompt_template": "Write about {{ topic }}"
        "{% if words is defined %} in {{ words }} words{% endif %}.",
        "input_schema": INPUT_SCHEMA,
        "tools": [{"name": "web_search", "config": {"max_results": 3}}],
        "policies": {"max_attempts": 2, "timeout_s": 60},
    }
    body.update(overrides)
    return body


class Org:
    """An organisation with an admin and two plain members."""

    def __init__(self, admin: Account, alice: Account, bob: Account) -> None:
        self.admin, self.alice, self.bob = admin, alice, bob


@pytest.fixture
async def org(db: AsyncSession, resources: Resources) -> Org:
    organisation = await make_org(db, "Agents Inc")
    return Org(
        admin=await make_account(db, resources, org=organisation, role=Role.ADMIN),
        alice=await make_account(db, resources, org=organisation, role=Role.USER),
        bob=await make_account(db, resources, org=organisation, role=Role.USER),
    )


async def create(client: httpx.AsyncClient, account: Account, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/agents", json=agent_body(**overrides), headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def locs(response: httpx.Response) -> list[list[Any]]:
    return [detail["loc"] for detail in response.json()["error"]["details"]]


# --- CRUD --------------------------------------------------------------------------------------------------


async def test_create_get_list_and_normalised_config(client: httpx.AsyncClient, org: Org) -> None:
    created = await create(client, org.alice)
    assert created["latest_version"] == 1
    assert created["owner_id"] == str(org.alice.user.id)
    assert created["visibility"] == "org"
    # Stored normalised: defaults written out, unset options and policies left out.
    assert created["model"] == {
        "provider": "mock",
        "name": "echo",
        "options": {"temperature": 0.2},
        "fallbacks": [{"provider": "openai", "name": "gpt-4o-mini", "options": {}}],
    }
    assert created["tools"] == [
        {
            "name": "web_search",
            "config": {"max_results": 3},
            "needs_approval": False,
            "approval_rules": [],
            "min_role": None,
        }
    ]
    assert created["policies"] == {"max_attempts": 2, "timeout_s": 60}

    fetched = (await client.get(f"/v1/agents/{created['id']}", headers=org.bob.headers)).json()
    assert fetched == created

    second = await create(client, org.bob, name="Reviewer")
    page = (await client.get("/v1/agents", headers=org.alice.headers)).json()
    assert [a["id"] for a in page["items"]] == [second["id"], created["id"]]  # newest first
    assert "model" not in page["items"][0]  # summaries only
    assert page["next_cursor"] is None

    by_name = (await client.get("/v1/agents", params={"q": "REVIEW"}, headers=org.alice.headers)).json()
    assert [a["name"] for a in by_name["items"]] == ["Reviewer"]
    mine = await client.get(
        "/v1/agents", params={"owner_id": str(org.alice.user.id)}, headers=org.alice.headers
    )
    assert [a["id"] for a in mine.json()["items"]] == [created["id"]]

    first_page = (await client.get("/v1/agents", params={"limit": 1}, headers=org.alice.headers)).json()
    assert [a["id"] for a in first_page["items"]] == [second["id"]]
    rest = await client.get(
        "/v1/agents", params={"limit": 1, "cursor": first_page["next_cursor"]}, headers=org.alice.headers
    )
    assert [a["id"] for a in rest.json()["items"]] == [created["id"]]
    bad_cursor = await client.get("/v1/agents", params={"cursor": "nope"}, headers=org.alice.headers)
    assert bad_cursor.status_code == 422
    assert locs(bad_cursor) == [["query", "cursor"]]


async def test_minimal_agent_and_audit(client: httpx.AsyncClient, org: Org, db: AsyncSession) -> None:
    response = await client.post(
        "/v1/agents",
        json={"name": "  Tiny  ", "model": {"provider": "mock", "name": "echo"}},
        headers=org.alice.headers,
    )
    assert response.status_code == 201, response.text
    tiny = response.json()
    assert tiny["name"] == "Tiny"
    assert (tiny["system_prompt"], tiny["prompt_template"], tiny["input_schema"]) == ("", None, None)
    assert (tiny["tools"], tiny["policies"]) == ([], {})
    actions = (await db.scalars(select(AuditEvent.action).where(AuditEvent.target_id == tiny["id"]))).all()
    assert actions == ["agent.created"]


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"surprise": 1}, ["body", "surprise"]),
        ({"name": "   "}, ["body", "name"]),
        ({"model": {"provider": "openia", "name": "gpt-4o"}}, ["body", "model", "provider"]),
        ({"model": {"provider": "mock", "name": "gpt-4o"}}, ["body", "model", "name"]),
        (
            {"model": {"provider": "mock", "name": "echo", "options": {"temperature": 7}}},
            ["body", "model", "options", "temperature"],
        ),
        (
            {"model": {"provider": "mock", "name": "echo", "fallbacks": [{"provider": "x", "name": "y"}]}},
            ["body", "model", "fallbacks", 0, "provider"],
        ),
        (
            {"tools": [{"name": "python"}, {"name": "web_fetch"}, {"name": "python"}]},
            ["body", "tools", 2, "name"],
        ),
        ({"tools": [{"name": "python"}, {"name": "rm_rf"}]}, ["body", "tools", 1, "name"]),
        ({"tools": [{"name": "mcp:Not Valid"}]}, ["body", "tools", 0, "name"]),
        ({"tools": [{"name": "has space"}]}, ["body", "tools", 0, "name"]),
        ({"policies": {"on_limit": "drop"}}, ["body", "policies", "on_limit"]),
        ({"policies": {"max_retries": 3}}, ["body", "policies", "max_retries"]),
        ({"policies": {"backoff_base_s": 10, "backoff_max_s": 1}}, ["body", "policies", "backoff_max_s"]),
        (
            {"input_schema": {"type": "object", "properties": {"topic": {"minLength": -1}}}},
            ["body", "input_schema", "properties", "topic", "minLength"],
        ),
        ({"input_schema": {"type": "array"}}, ["body", "input_schema", "type"]),
        (
            {"input_schema": {"type": "object", "properties": {"t": {"$ref": "https://example.com/s.json"}}}},
            ["body", "input_schema"],
        ),
        (
            {"input_schema": {"type": "object", "properties": {"t": {"$ref": "#/$defs/missing"}}}},
            ["body", "input_schema"],
        ),
        ({"prompt_template": "About {{ subject }}"}, ["body", "prompt_template"]),
        ({"system_prompt": "You are {{ persona }}."}, ["body", "system_prompt"]),
        ({"prompt_template": "{% for x in topic %}"}, ["body", "prompt_template"]),
        ({"prompt_template": "{{ topic | no_such_filter }}"}, ["body", "prompt_template"]),
        ({"prompt_template": "{% include 'other' %}"}, ["body", "prompt_template"]),
    ],
)
async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, org: Org, overrides: dict[str, Any], loc: list[Any]
) -> None:
    response = await client.post("/v1/agents", json=agent_body(**overrides), headers=org.alice.headers)
    assert response.status_code == 422, response.text
    assert loc in locs(response), response.text


async def test_template_without_schema_may_use_no_variables(client: httpx.AsyncClient, org: Org) -> None:
    response = await client.post(
        "/v1/agents",
        json=agent_body(input_schema=None, system_prompt="Plain.", prompt_template="Hi {{ topic }}"),
        headers=org.alice.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "template_invalid"
    assert "topic" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "template",
    [
        "{{ topic.__class__.__mro__ }}",
        "{{ topic['__class__'] }}",
        "{{ topic | attr('__class__') }}",
        "{{ _agentic_iter }}",
    ],
)
async def test_unsafe_templates_are_refused_when_saved(
    client: httpx.AsyncClient, org: Org, template: str
) -> None:
    response = await client.post(
        "/v1/agents", json=agent_body(prompt_template=template), headers=org.alice.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "template_unsafe"
    assert locs(response) == [["body", "prompt_template"]]


async def test_not_found_and_bad_ids(client: httpx.AsyncClient, org: Org) -> None:
    missing = await client.get(f"/v1/agents/{uuid.uuid4()}", headers=org.alice.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert (await client.get("/v1/agents/not-a-uuid", headers=org.alice.headers)).status_code == 422


# --- versions ----------------------------------------------------------------------------------------------


async def test_every_change_is_a_new_immutable_version(
    client: httpx.AsyncClient, org: Org, db: AsyncSession
) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}"
    v1 = (await client.get(f"{url}/versions/1", headers=org.alice.headers)).json()

    patched = await client.patch(url, json={"system_prompt": "Be brief."}, headers=org.alice.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["latest_version"] == 2
    assert patched.json()["system_prompt"] == "Be brief."
    assert patched.json()["prompt_template"] == agent["prompt_template"]  # untouched fields carry over

    renamed = (await client.patch(url, json={"name": "Scribe"}, headers=org.alice.headers)).json()
    assert (renamed["name"], renamed["latest_version"]) == ("Scribe", 3)

    # Nothing changes: no version. Visibility is not part of a version either.
    same = (await client.patch(url, json={"name": "Scribe"}, headers=org.alice.headers)).json()
    assert same["latest_version"] == 3
    private = (await client.patch(url, json={"visibility": "private"}, headers=org.alice.headers)).json()
    assert (private["visibility"], private["latest_version"]) == ("private", 3)

    removed = (await client.patch(url, json={"prompt_template": None}, headers=org.alice.headers)).json()
    assert (removed["prompt_template"], removed["latest_version"]) == (None, 4)

    null_name = await client.patch(url, json={"name": None}, headers=org.alice.headers)
    assert null_name.status_code == 422
    assert locs(null_name) == [["body", "name"]]
    bad = await client.patch(url, json={"prompt_template": "{{ nope }}"}, headers=org.alice.headers)
    assert bad.status_code == 422
    assert locs(bad) == [["body", "prompt_template"]]

    versions = (await client.get(f"{url}/versions", headers=org.alice.headers)).json()
    assert [v["version"] for v in versions["items"]] == [4, 3, 2, 1]
    assert all(v["created_by_id"] == str(org.alice.user.id) for v in versions["items"])
    paged = (await client.get(f"{url}/versions", params={"limit": 2}, headers=org.alice.headers)).json()
    assert [v["version"] for v in paged["items"]] == [4, 3]
    after = await client.get(
        f"{url}/versions", params={"cursor": paged["next_cursor"]}, headers=org.alice.headers
    )
    assert [v["version"] for v in after.json()["items"]] == [2, 1]

    audited = (
        await db.execute(
            select(AuditEvent.action, AuditEvent.details)
            .where(AuditEvent.target_id == agent["id"])
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
    ).all()
    assert [(action, (details or {}).get("fields")) for action, details in audited] == [
        ("agent.created", None),
        ("agent.updated", ["system_prompt"]),
        ("agent.updated", ["name"]),
        ("agent.updated", ["visibility"]),
        ("agent.updated", ["prompt_template"]),
    ]

    # Version 1 is exactly what it was.
    assert (await client.get(f"{url}/versions/1", headers=org.alice.headers)).json() == v1
    assert v1["config"]["system_prompt"] == agent["system_prompt"]
    assert v1["config"]["name"] == "Writer"
    assert (await client.get(f"{url}/versions/9", headers=org.alice.headers)).status_code == 404


async def test_a_task_pins_the_version_current_at_creation(
    client: httpx.AsyncClient, org: Org, db: AsyncSession
) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}"
    v2 = (await client.patch(url, json={"system_prompt": "Version two."}, headers=org.alice.headers)).json()
    task = await client.post(
        "/v1/tasks", json={"agent_id": agent["id"], "input": {"topic": "owls"}}, headers=org.alice.headers
    )
    assert task.status_code == 201, task.text
    assert task.json()["agent_version_id"] == v2["version_id"]
    pinned = await db.get(AgentVersion, uuid.UUID(task.json()["agent_version_id"]))
    assert pinned is not None
    assert (pinned.version, pinned.config["system_prompt"]) == (2, "Version two.")

    # Editing the agent later never moves the task.
    v3 = (await client.patch(url, json={"system_prompt": "Version three."}, headers=org.alice.headers)).json()
    assert v3["version_id"] != v2["version_id"]
    again = (await client.get(f"/v1/tasks/{task.json()['id']}", headers=org.alice.headers)).json()
    assert again["agent_version_id"] == v2["version_id"]


async def test_diff_between_versions(client: httpx.AsyncClient, org: Org) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}"
    await client.patch(
        url,
        json={
            "system_prompt": "Short.",
            "tools": [
                {"name": "web_search", "config": {"max_results": 5}},
                {"name": "python", "needs_approval": True},
            ],
            "policies": {"max_attempts": 2},
        },
        headers=org.alice.headers,
    )
    diff = (await client.get(f"{url}/diff", params={"from": 1, "to": 2}, headers=org.alice.headers)).json()
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    assert diff["changes"] == [
        {"path": "/policies/timeout_s", "op": "removed", "from": 60, "to": None},
        {"path": "/system_prompt", "op": "changed", "from": agent["system_prompt"], "to": "Short."},
        {"path": "/tools/0/config/max_results", "op": "changed", "from": 3, "to": 5},
        {
            "path": "/tools/1",
            "op": "added",
            "from": None,
            "to": {
                "name": "python",
                "config": {},
                "needs_approval": True,
                "approval_rules": [],
                "min_role": None,
            },
        },
    ]
    # Defaults: the latest against the one before it; and reversed.
    assert (await client.get(f"{url}/diff", headers=org.alice.headers)).json()["changes"] == diff["changes"]
    back = (await client.get(f"{url}/diff", params={"from": 2, "to": 1}, headers=org.alice.headers)).json()
    assert back["changes"][0] == {"path": "/policies/timeout_s", "op": "added", "from": None, "to": 60}
    same = (await client.get(f"{url}/diff", params={"from": 1, "to": 1}, headers=org.alice.headers)).json()
    assert same["changes"] == []
    assert (await client.get(f"{url}/diff", params={"from": 7}, headers=org.alice.headers)).status_code == 404


async def test_rollback_makes_a_new_version_equal_to_an_old_one(client: httpx.AsyncClient, org: Org) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}"
    await client.patch(url, json={"name": "Changed", "system_prompt": "Other."}, headers=org.alice.headers)
    rolled = await client.post(f"{url}/rollback", json={"version": 1}, headers=org.alice.headers)
    assert rolled.status_code == 200, rolled.text
    body = rolled.json()
    assert (body["latest_version"], body["name"], body["system_prompt"]) == (
        3,
        "Writer",
        agent["system_prompt"],
    )
    v1 = (await client.get(f"{url}/versions/1", headers=org.alice.headers)).json()
    v3 = (await client.get(f"{url}/versions/3", headers=org.alice.headers)).json()
    assert v3["config"] == v1["config"]
    assert (await client.get(f"{url}/diff", params={"from": 1, "to": 3}, headers=org.alice.headers)).json()[
        "changes"
    ] == []
    # Back to what is already current: nothing to do.
    again = (await client.post(f"{url}/rollback", json={"version": 3}, headers=org.alice.headers)).json()
    assert again["latest_version"] == 3
    missing = await client.post(f"{url}/rollback", json={"version": 42}, headers=org.alice.headers)
    assert missing.status_code == 404
    invalid = await client.post(f"{url}/rollback", json={"version": 0}, headers=org.alice.headers)
    assert invalid.status_code == 422
    assert locs(invalid) == [["body", "version"]]


async def test_clone(client: httpx.AsyncClient, org: Org) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}"
    await client.patch(url, json={"system_prompt": "Second."}, headers=org.alice.headers)
    # Bob can see Alice's shared agent, so he may copy it: the copy is his.
    cloned = await client.post(f"{url}/clone", json={"name": "Bob's writer"}, headers=org.bob.headers)
    assert cloned.status_code == 201, cloned.text
    copy = cloned.json()
    assert copy["id"] != agent["id"]
    assert (copy["owner_id"], copy["latest_version"], copy["name"]) == (
        str(org.bob.user.id),
        1,
        "Bob's writer",
    )
    assert copy["system_prompt"] == "Second."
    assert copy["visibility"] == "org"
    first = await client.post(
        f"{url}/clone",
        json={"name": "Old one", "version": 1, "visibility": "private"},
        headers=org.bob.headers,
    )
    assert first.json()["system_prompt"] == agent["system_prompt"]
    assert first.json()["visibility"] == "private"
    # The copy is independent: Bob edits it, Alice's stays.
    assert (
        await client.patch(f"/v1/agents/{copy['id']}", json={"description": "mine"}, headers=org.bob.headers)
    ).status_code == 200
    assert (await client.get(url, headers=org.alice.headers)).json()["latest_version"] == 2
    no_name = await client.post(f"{url}/clone", json={}, headers=org.bob.headers)
    assert locs(no_name) == [["body", "name"]]


# --- export, import ----------------------------------------------------------------------------------------


def _definition(agent: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "description", "visibility", "model", "system_prompt", "prompt_template", "input_schema")
    return {key: agent[key] for key in (*keys, "tools", "policies")}


async def test_export_import_round_trip_json_and_yaml(client: httpx.AsyncClient, org: Org) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}"

    as_json = await client.get(f"{url}/export", headers=org.alice.headers)
    assert as_json.status_code == 200
    assert as_json.headers["content-type"].startswith("application/json")
    assert 'filename="Writer.agent.json"' in as_json.headers["content-disposition"]
    document = as_json.json()
    assert document["kind"] == "agentic.agent"
    assert "id" not in document
    assert "owner_id" not in document
    imported = await client.post("/v1/agents/import", json=document, headers=org.bob.headers)
    assert imported.status_code == 201, imported.text
    assert imported.json()["owner_id"] == str(org.bob.user.id)
    assert _definition(imported.json()) == _definition(agent)

    as_yaml = await client.get(f"{url}/export", params={"format": "yaml"}, headers=org.alice.headers)
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert as_yaml.text.startswith("kind: agentic.agent\nformat_version: 1\nname: Writer\n")
    assert yaml.safe_load(as_yaml.text) == document
    from_yaml = await client.post(
        "/v1/agents/import",
        content=as_yaml.content,
        headers={**org.bob.headers, "content-type": "application/yaml"},
    )
    assert from_yaml.status_code == 201, from_yaml.text
    assert _definition(from_yaml.json()) == _definition(agent)

    # An older version exports what it was.
    await client.patch(url, json={"system_prompt": "New."}, headers=org.alice.headers)
    old = (await client.get(f"{url}/export", params={"version": 1}, headers=org.alice.headers)).json()
    assert old == document


async def test_import_errors(client: httpx.AsyncClient, org: Org) -> None:
    headers = org.alice.headers
    yaml_headers = {**headers, "content-type": "application/yaml"}
    broken = await client.post("/v1/agents/import", content=b"name: [unclosed", headers=yaml_headers)
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "malformed_document")
    bomb = b"a: &a [x, x]\nb: &b [*a, *a]\nname: *b\n"
    refused = await client.post("/v1/agents/import", content=bomb, headers=yaml_headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "malformed_document")
    not_json = await client.post(
        "/v1/agents/import", content=b"{nope", headers={**headers, "content-type": "application/json"}
    )
    assert not_json.status_code == 400
    text = await client.post(
        "/v1/agents/import", content=b"name: x", headers={**headers, "content-type": "text/plain"}
    )
    assert text.status_code == 415
    listed = await client.post("/v1/agents/import", content=b"- a\n- b\n", headers=yaml_headers)
    assert listed.status_code == 422
    invalid = await client.post(
        "/v1/agents/import",
        content=yaml.safe_dump(
            {"kind": "agentic.agent", "name": "X", "model": {"provider": "nope", "name": "m"}}
        ),
        headers=yaml_headers,
    )
    assert invalid.status_code == 422
    assert ["body", "model", "provider"] in locs(invalid)
    wrong_kind = await client.post(
        "/v1/agents/import", json={"kind": "other", **agent_body()}, headers=headers
    )
    assert ["body", "kind"] in locs(wrong_kind)
    # Templates are checked on import too.
    unsafe = await client.post(
        "/v1/agents/import", json=agent_body(prompt_template="{{ topic.__class__ }}"), headers=headers
    )
    assert (unsafe.status_code, unsafe.json()["error"]["code"]) == (422, "template_unsafe")


# --- render ------------------------------------------------------------------------------------------------


async def test_render_with_valid_input(client: httpx.AsyncClient, org: Org) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}/render"
    rendered = await client.post(
        url, json={"input": {"topic": "owls", "audience": "kids", "words": 50}}, headers=org.bob.headers
    )
    assert rendered.status_code == 200, rendered.text
    assert rendered.json() == {
        "agent_id": agent["id"],
        "version": 1,
        "system_prompt": "You write for kids.",
        "messages": [
            {"role": "system", "content": "You write for kids."},
            {"role": "user", "content": "Write about owls in 50 words."},
        ],
    }
    minimal = (await client.post(url, json={"input": {"topic": "owls"}}, headers=org.bob.headers)).json()
    assert minimal["messages"][-1]["content"] == "Write about owls."
    assert minimal["system_prompt"] == "You write for everyone."

    # A chosen version renders as it was.
    await client.patch(
        f"/v1/agents/{agent['id']}", json={"prompt_template": "Topic: {{ topic }}"}, headers=org.alice.headers
    )
    latest = (await client.post(url, json={"input": {"topic": "owls"}}, headers=org.bob.headers)).json()
    assert (latest["version"], latest["messages"][-1]["content"]) == (2, "Topic: owls")
    first = (
        await client.post(url, json={"input": {"topic": "owls"}, "version": 1}, headers=org.bob.headers)
    ).json()
    assert first["messages"][-1]["content"] == "Write about owls."
    assert (
        await client.post(url, json={"input": {}, "version": 5}, headers=org.bob.headers)
    ).status_code == 404


async def test_render_without_template_uses_the_message(client: httpx.AsyncClient, org: Org) -> None:
    agent = await create(client, org.alice, input_schema=None, prompt_template=None, system_prompt="Plain.")
    rendered = (
        await client.post(
            f"/v1/agents/{agent['id']}/render",
            json={"input": {"message": "hello"}},
            headers=org.alice.headers,
        )
    ).json()
    assert rendered["messages"] == [
        {"role": "system", "content": "Plain."},
        {"role": "user", "content": "hello"},
    ]


@pytest.mark.parametrize(
    ("task_input", "loc"),
    [
        ({}, ["body", "input", "topic"]),
        ({"topic": ""}, ["body", "input", "topic"]),
        ({"topic": "owls", "words": "many"}, ["body", "input", "words"]),
        ({"topic": "owls", "words": 5}, ["body", "input", "words"]),
        ({"topic": "owls", "audience": "cats"}, ["body", "input", "audience"]),
        ({"topic": "owls", "colour": "red"}, ["body", "input", "colour"]),
    ],
)
async def test_render_with_invalid_input_names_the_field(
    client: httpx.AsyncClient, org: Org, task_input: dict[str, Any], loc: list[Any]
) -> None:
    agent = await create(client, org.alice)
    response = await client.post(
        f"/v1/agents/{agent['id']}/render", json={"input": task_input}, headers=org.alice.headers
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert loc in locs(response)
    # Input values are not echoed back (input may carry secrets).
    assert "cats" not in response.text
    assert "many" not in response.text


@pytest.mark.parametrize(
    ("template", "variables", "code"),
    [
        # Dynamic spellings the save-time check cannot see: the sandbox refuses them while rendering.
        ("{{ topic | attr(key) }}", {"key": "__class__"}, "template_unsafe"),
        ("{{ topic[key] }}", {"key": "__class__"}, "template_unsafe"),
        ("{{ ('{0.' ~ key ~ '}').format(topic) }}", {"key": "__class__"}, "template_unsafe"),
        # Resource bombs stop at the budgets.
        ("{{ topic * times }}", {"times": 10**9}, "template_unsafe"),
        ("{{ topic.center(times) }}", {"times": 10**9}, "template_unsafe"),
        ("{% for a in range(times) %}{% endfor %}", {"times": 10**8}, "template_unsafe"),
        (
            "{% set ns = namespace(s=topic) %}{% for i in range(times) %}{% set ns.s = ns.s ~ ns.s %}"
            "{% endfor %}{{ ns.s }}",
            {"times": 64},
            "template_unsafe",
        ),
        (
            "{% for a in range(times) %}{% for b in range(times) %}.{% endfor %}{% endfor %}",
            {"times": 1000},
            "template_unsafe",
        ),
        # Ordinary template failures are the template's: 422, never a 500.
        ("{{ 1 / times }}", {"times": 0}, "template_render_failed"),
        ("{{ topic.missing.deeper }}", {}, "template_render_failed"),
    ],
)
async def test_render_sandbox_refusals_are_422(
    client: httpx.AsyncClient, org: Org, template: str, variables: dict[str, Any], code: str
) -> None:
    schema = {"type": "object", "properties": {"topic": {"type": "string"}, "key": {}, "times": {}}}
    agent = await create(client, org.alice, prompt_template=template, input_schema=schema, system_prompt="")
    response = await client.post(
        f"/v1/agents/{agent['id']}/render",
        json={"input": {"topic": "owls", **variables}},
        headers=org.alice.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert "owls" * 3 not in response.text


async def test_render_refuses_an_unsafe_template_stored_before_checks(
    client: httpx.AsyncClient, org: Org, db: AsyncSession
) -> None:
    # A version written around the API (older data, a direct insert) is still only rendered in the sandbox.
    agent = Agent(org_id=org.alice.org.id, owner_id=org.alice.user.id, name="Legacy", latest_version=1)
    db.add(agent)
    await db.flush()
    db.add(
        AgentVersion(
            org_id=org.alice.org.id,
            agent_id=agent.id,
            version=1,
            config={
                "model": {"provider": "mock", "name": "echo"},
                "system_prompt": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            },
        )
    )
    await db.commit()
    response = await client.post(
        f"/v1/agents/{agent.id}/render", json={"input": {}}, headers=org.alice.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "template_unsafe"
    assert response.json()["error"]["details"][0]["loc"] == ["system_prompt"]
    undefined = await client.post(
        f"/v1/agents/{agent.id}/render", json={"input": {"x": 1}}, headers=org.alice.headers
    )
    assert undefined.status_code == 422


# --- access ------------------------------------------------------------------------------------------------


async def test_private_agents_are_invisible_to_other_members(
    client: httpx.AsyncClient, org: Org, db: AsyncSession
) -> None:
    secret = await create(client, org.alice, visibility="private")
    url = f"/v1/agents/{secret['id']}"
    assert (await client.get(url, headers=org.alice.headers)).status_code == 200
    for method, path, body in (
        ("GET", "", None),
        ("PATCH", "", {"name": "mine now"}),
        ("DELETE", "", None),
        ("GET", "/versions", None),
        ("GET", "/versions/1", None),
        ("GET", "/diff", None),
        ("GET", "/export", None),
        ("POST", "/render", {"input": {"topic": "x"}}),
        ("POST", "/clone", {"name": "copy"}),
        ("POST", "/rollback", {"version": 1}),
    ):
        response = await client.request(method, f"{url}{path}", json=body, headers=org.bob.headers)
        assert response.status_code == 404, f"{method} {path}: {response.status_code}"
    listed = (await client.get("/v1/agents", headers=org.bob.headers)).json()["items"]
    assert secret["id"] not in {a["id"] for a in listed}
    # Nor can Bob run or schedule it.
    run = await client.post(
        "/v1/tasks", json={"agent_id": secret["id"], "input": {"topic": "x"}}, headers=org.bob.headers
    )
    assert run.status_code == 404
    schedule = await client.post(
        "/v1/schedules",
        json={"agent_id": secret["id"], "name": "n", "cron": "0 * * * *"},
        headers=org.bob.headers,
    )
    assert schedule.status_code == 404
    # The owner and agent managers (admins) see and run it.
    own_list = (
        await client.get("/v1/agents", params={"visibility": "private"}, headers=org.alice.headers)
    ).json()
    assert [a["id"] for a in own_list["items"]] == [secret["id"]]
    assert (await client.get(url, headers=org.admin.headers)).status_code == 200
    admin_list = (await client.get("/v1/agents", headers=org.admin.headers)).json()["items"]
    assert secret["id"] in {a["id"] for a in admin_list}
    own_run = await client.post(
        "/v1/tasks", json={"agent_id": secret["id"], "input": {"topic": "x"}}, headers=org.alice.headers
    )
    assert own_run.status_code == 201, own_run.text


async def test_only_the_owner_or_a_manager_changes_an_agent(client: httpx.AsyncClient, org: Org) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}"
    for method, path, body in (
        ("PATCH", "", {"description": "bob was here"}),
        ("POST", "/rollback", {"version": 1}),
        ("DELETE", "", None),
    ):
        response = await client.request(method, f"{url}{path}", json=body, headers=org.bob.headers)
        assert response.status_code == 403, f"{method} {path}: {response.text}"
        assert response.json()["error"]["code"] == "permission_denied"
    assert (await client.get(url, headers=org.alice.headers)).json()["latest_version"] == 1

    by_admin = await client.patch(url, json={"description": "admin edit"}, headers=org.admin.headers)
    assert by_admin.status_code == 200
    assert by_admin.json()["latest_version"] == 2
    assert by_admin.json()["owner_id"] == str(org.alice.user.id)  # editing does not change the owner
    version = (await client.get(f"{url}/versions/2", headers=org.alice.headers)).json()
    assert version["created_by_id"] == str(org.admin.user.id)
    assert (
        await client.post(f"{url}/rollback", json={"version": 1}, headers=org.admin.headers)
    ).status_code == 200


async def test_deleted_agent_is_gone_and_cannot_run(
    client: httpx.AsyncClient, org: Org, db: AsyncSession
) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}"
    scheduled = await client.post(
        "/v1/schedules",
        json={"agent_id": agent["id"], "name": "hourly", "cron": "0 * * * *", "input": {"topic": "x"}},
        headers=org.alice.headers,
    )
    assert scheduled.status_code == 201
    earlier = await client.post(
        "/v1/tasks", json={"agent_id": agent["id"], "input": {"topic": "x"}}, headers=org.alice.headers
    )
    assert earlier.status_code == 201

    deleted = await client.delete(url, headers=org.alice.headers)
    assert deleted.status_code == 204
    for path in ("", "/versions", "/versions/1", "/export"):
        assert (await client.get(f"{url}{path}", headers=org.alice.headers)).status_code == 404, path
    assert (await client.get(url, headers=org.admin.headers)).status_code == 404
    assert (await client.delete(url, headers=org.alice.headers)).status_code == 404
    listed = (await client.get("/v1/agents", headers=org.admin.headers)).json()["items"]
    assert agent["id"] not in {a["id"] for a in listed}
    run = await client.post(
        "/v1/tasks", json={"agent_id": agent["id"], "input": {"topic": "x"}}, headers=org.alice.headers
    )
    assert run.status_code == 404
    # History stays: the earlier task and its pinned version; the schedule no longer fires.
    task = await client.get(f"/v1/tasks/{earlier.json()['id']}", headers=org.alice.headers)
    assert task.json()["agent_version_id"] == agent["version_id"]
    schedule = await db.get(Schedule, uuid.UUID(scheduled.json()["id"]), populate_existing=True)
    assert schedule is not None
    assert (schedule.enabled, schedule.next_run_at) == (False, None)
    row = await db.get(Agent, uuid.UUID(agent["id"]), populate_existing=True)
    assert row is not None
    assert row.deleted_at is not None


async def test_concurrent_edits_never_share_a_version_number(
    client: httpx.AsyncClient, org: Org, db: AsyncSession
) -> None:
    agent = await create(client, org.alice)
    url = f"/v1/agents/{agent['id']}"
    responses = await asyncio.gather(
        *(client.patch(url, json={"description": f"edit {i}"}, headers=org.alice.headers) for i in range(4))
    )
    statuses = [r.status_code for r in responses]
    # Each edit either lands as a version of its own or is refused as a conflict; none is lost silently.
    assert set(statuses) <= {200, 409}, [r.text for r in responses]
    assert all(r.json()["error"]["code"] == "agent_changed" for r in responses if r.status_code == 409)
    numbers = (
        await db.scalars(
            select(AgentVersion.version)
            .where(AgentVersion.agent_id == uuid.UUID(agent["id"]))
            .order_by(AgentVersion.version)
        )
    ).all()
    assert list(numbers) == list(range(1, 2 + statuses.count(200)))
    latest = (await client.get(url, headers=org.alice.headers)).json()
    assert latest["latest_version"] == numbers[-1]


async def test_openapi_documents_the_agent_body(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    create_op = spec["paths"]["/v1/agents"]["post"]
    assert create_op["x-permission"] == "agents:write"
    schema = spec["components"]["schemas"]["AgentCreate"]
    assert {"name", "model", "system_prompt", "tools", "policies"} <= set(schema["properties"])
    import_op = spec["paths"]["/v1/agents/import"]["post"]
    assert set(import_op["requestBody"]["content"]) == {"application/json", "application/yaml"}
    assert set(spec["components"]["schemas"]["Change"]["properties"]) == {"path", "op", "from", "to"}


async def test_a_draft_renders_before_it_is_saved(client: httpx.AsyncClient, org: Org) -> None:
    user = org.alice
    schema = {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}
    draft = {
        "system_prompt": "You write about {{ topic }}.",
        "prompt_template": "One line on {{ topic | upper }}.",
        "input_schema": schema,
    }
    rendered = await client.post(
        "/v1/agents/render", json=draft | {"input": {"topic": "tides"}}, headers=user.headers
    )
    assert rendered.status_code == 200, rendered.text
    assert rendered.json() == {
        "system_prompt": "You write about tides.",
        "messages": [
            {"role": "system", "content": "You write about tides."},
            {"role": "user", "content": "One line on TIDES."},
        ],
    }
    for body, loc in [
        (draft | {"input": {}}, ["body", "input"]),  # `topic` is required
        (draft | {"prompt_template": "{{ missing }}", "input": {"topic": "x"}}, ["body", "prompt_template"]),
        (
            draft | {"prompt_template": "{{ ''.__class__.__mro__ }}", "input": {"topic": "x"}},
            ["body", "prompt_template"],
        ),
    ]:
        refused = await client.post("/v1/agents/render", json=body, headers=user.headers)
        assert refused.status_code == 422, refused.text
        assert any(d["loc"][: len(loc)] == loc for d in refused.json()["error"]["details"]), refused.text


async def test_the_tool_catalogue_lists_built_in_tools(client: httpx.AsyncClient, org: Org) -> None:
    user = org.alice
    tools = {t["name"]: t for t in (await client.get("/v1/tools", headers=user.headers)).json()}
    assert set(tools) == {"python", "http_request", "web_fetch", "web_search", "sql_query"}
    assert tools["sql_query"]["config_schema"]["required"] == ["connections"]
    assert tools["http_request"]["parameters"]["required"] == ["url"]
    # No search provider in the test settings: listed, with the reason it cannot run.
    assert tools["web_search"]["available"] is False
    assert "AGENTIC_SEARCH_PROVIDER" in tools["web_search"]["unavailable_reason"]


async def test_the_tool_catalogue_says_why_the_python_tool_is_off(
    client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the start-up probe found (here: no bubblewrap) is what an agent editor is told."""
    reason = "bubblewrap (`bwrap`) is not installed on this server: the sandbox cannot run."
    monkeypatch.setattr(sandbox, "_status", sandbox.SandboxStatus(available=False, reason=reason))
    tools = {t["name"]: t for t in (await client.get("/v1/tools", headers=org.alice.headers)).json()}
    assert tools["python"]["available"] is False
    assert tools["python"]["unavailable_reason"] == reason
    monkeypatch.setattr(sandbox, "_status", sandbox.SandboxStatus(available=True))
    tools = {t["name"]: t for t in (await client.get("/v1/tools", headers=org.alice.headers)).json()}
    assert tools["python"]["available"] is True
    assert tools["python"]["unavailable_reason"] is None


# --- integers at the edge ---------------------------------------------------------------------------------

HUGE = 1_180_591_620_717_411_303_424  # 2**70: past SQLite's 64-bit integers and PostgreSQL's INTEGER


async def test_integers_past_the_database_range_are_refused_with_422_not_500(
    client: httpx.AsyncClient, org: Org
) -> None:
    """Issue 15: 2**63 and more in a query or path parameter gave 500 on SQLite (and 2**31 on PostgreSQL's
    INTEGER columns). Every integer the API compares with a column is bounded where it comes in."""
    user = org.alice
    agent = await create(client, user)
    task = await client.post(
        "/v1/tasks", json={"agent_id": agent["id"], "input": {"topic": "bounds"}}, headers=user.headers
    )
    assert task.status_code == 201, task.text
    task_id = task.json()["id"]
    for huge in (2**31, 2**63, HUGE):
        base = f"/v1/agents/{agent['id']}"
        # (method, url, query, JSON body)
        cases: list[tuple[str, str, dict[str, int] | None, dict[str, int] | None]] = [
            ("GET", f"/v1/tasks/{task_id}/events", {"after": huge}, None),
            ("GET", f"{base}/versions", {"cursor": huge}, None),
            ("GET", f"{base}/versions/{huge}", None, None),
            ("GET", f"{base}/diff", {"from": huge, "to": 1}, None),
            ("GET", f"{base}/diff", {"from": 1, "to": huge}, None),
            ("GET", f"{base}/export", {"version": huge}, None),
            ("POST", f"{base}/rollback", None, {"version": huge}),
            ("POST", f"{base}/clone", None, {"version": huge}),
            ("POST", f"/v1/tasks/{task_id}/retry", None, {"from_step": huge}),
            ("POST", f"/v1/tasks/{task_id}/retry", None, {"agent_version": huge}),
        ]
        for method, url, params, body in cases:
            response = await client.request(method, url, params=params, json=body, headers=user.headers)
            assert response.status_code == 422, (method, url, params, body, response.text)
            assert response.json()["error"]["code"] == "validation_error", response.text
        stream = await client.get(
            f"/v1/tasks/{task_id}/events",
            headers={**user.headers, "accept": "text/event-stream", "last-event-id": str(huge)},
        )
        assert stream.status_code == 422, stream.text
