"""Cron schedules: fire times, one run per fire time under concurrent schedulers, skips, and the API."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.config import Settings
from agentic.db.engine import create_engine, create_session_factory
from agentic.db.models import Agent, AgentVersion, Membership, Role, Schedule, Task
from agentic.db.types import utcnow
from agentic.errors import InvalidInput
from agentic.resources import Resources
from agentic.services import schedules
from agentic.services.audit import Actor
from tests.api.test_tasks import make_agent
from tests.support.accounts import Account, make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")

UTC = dt.UTC


def test_next_fire_reads_the_expression_in_its_time_zone() -> None:
    winter = dt.datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
    summer = dt.datetime(2026, 7, 15, 6, 0, tzinfo=UTC)
    assert schedules.next_fire("0 9 * * *", "Europe/Paris", winter) == dt.datetime(
        2026, 1, 15, 8, 0, tzinfo=UTC
    )
    assert schedules.next_fire("0 9 * * *", "Europe/Paris", summer) == dt.datetime(
        2026, 7, 15, 7, 0, tzinfo=UTC
    )
    # Strictly after: a fire time equal to `after` is not returned again.
    on_the_dot = dt.datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
    assert schedules.next_fire("*/15 * * * *", "UTC", on_the_dot) == dt.datetime(
        2026, 1, 1, 0, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("cron", "zone", "field"),
    [
        ("61 * * * *", "UTC", "cron"),
        ("* * * *", "UTC", "cron"),
        ("0 0 * * * *", "UTC", "cron"),  # six fields (seconds) are not accepted
        ("not a cron", "UTC", "cron"),
        ("0 0 30 2 *", "UTC", "cron"),  # valid syntax, but 30 February never comes
        ("0 9 * * *", "Mars/Olympus", "timezone"),
        ("0 9 * * *", "../../etc/passwd", "timezone"),
    ],
)
def test_invalid_expressions_and_zones_name_the_field(cron: str, zone: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        schedules.next_fire(cron, zone, utcnow())
    assert caught.value.details == [{"loc": ["body", field]}]


@pytest.fixture
async def sessions(settings: Settings) -> Any:
    engine = create_engine(settings)
    yield create_session_factory(engine)
    await engine.dispose()


async def _schedule(db: AsyncSession, account: Account, agent: Agent, **kwargs: Any) -> Schedule:
    values: dict[str, Any] = {
        "name": "every minute",
        "cron": "* * * * *",
        "timezone": "UTC",
        "input": {"message": "tick"},
        "priority": 0,
        "enabled": True,
    } | kwargs
    return await schedules.create_schedule(
        db, actor=Actor(user_id=account.user.id, org_id=account.org.id), agent_id=agent.id, **values
    )


async def _make_due(db: AsyncSession, schedule: Schedule, ago: dt.timedelta) -> dt.datetime:
    fire_at = (utcnow() - ago).replace(microsecond=0)
    await db.execute(update(Schedule).where(Schedule.id == schedule.id).values(next_run_at=fire_at))
    await db.commit()
    return fire_at


async def test_a_due_schedule_fires_once_under_concurrent_schedulers(
    db: AsyncSession, resources: Resources, sessions: async_sessionmaker[AsyncSession]
) -> None:
    account = await make_account(db, resources, org=await make_org(db, "Cron"), role=Role.USER)
    agent = await make_agent(db, account)
    schedule = await _schedule(db, account, agent)
    assert schedule.next_run_at is not None
    assert schedule.next_run_at > utcnow()
    await _make_due(db, schedule, dt.timedelta(hours=5))  # missed fire times are coalesced into one run

    async def scheduler() -> list[schedules.Fired]:
        async with sessions() as session:
            return await schedules.fire_due(session)

    results = await asyncio.gather(*(scheduler() for _ in range(4)))
    fired = [f for result in results for f in result]
    assert len(fired) == 1
    assert fired[0].task_id is not None

    tasks = (await db.scalars(select(Task).where(Task.agent_id == agent.id))).all()
    assert len(tasks) == 1
    task = tasks[0]
    assert task.input == {"message": "tick"}
    assert task.created_by_id == account.user.id
    assert task.idempotency_key is not None
    assert task.idempotency_key.startswith(f"schedule:{schedule.id}:")

    after = await db.get(Schedule, schedule.id, populate_existing=True)
    assert after is not None
    assert after.next_run_at is not None
    assert utcnow() < after.next_run_at <= utcnow() + dt.timedelta(minutes=1)
    assert after.last_task_id == task.id
    assert after.last_error is None
    # Nothing is due any more: a second pass queues nothing.
    assert await scheduler() == []


async def test_disabled_and_future_schedules_do_not_fire(
    db: AsyncSession, resources: Resources, sessions: async_sessionmaker[AsyncSession]
) -> None:
    account = await make_account(db, resources, org=await make_org(db, "Quiet"), role=Role.USER)
    agent = await make_agent(db, account)
    await _schedule(db, account, agent, enabled=False)
    await _schedule(db, account, agent, cron="0 0 1 1 *")
    async with sessions() as session:
        assert await schedules.fire_due(session) == []
    assert (await db.scalars(select(Task).where(Task.agent_id == agent.id))).all() == []


async def test_a_fire_that_cannot_run_is_skipped_with_the_reason(
    db: AsyncSession, resources: Resources, sessions: async_sessionmaker[AsyncSession]
) -> None:
    account = await make_account(db, resources, org=await make_org(db, "Gone"), role=Role.USER)
    agent = await make_agent(db, account)
    schedule = await _schedule(db, account, agent)
    await _make_due(db, schedule, dt.timedelta(minutes=2))
    await db.execute(update(Agent).where(Agent.id == agent.id).values(deleted_at=utcnow()))
    await db.commit()
    async with sessions() as session:
        fired = await schedules.fire_due(session)
    assert [(f.task_id, f.error) for f in fired] == [(None, "not_found")]
    after = await db.get(Schedule, schedule.id, populate_existing=True)
    assert after is not None
    assert after.next_run_at is not None
    assert after.next_run_at > utcnow()
    assert after.last_error is not None
    assert after.last_error.startswith("not_found")


async def test_runs_stop_when_the_creator_may_no_longer_run_tasks(
    db: AsyncSession, resources: Resources, sessions: async_sessionmaker[AsyncSession]
) -> None:
    account = await make_account(db, resources, org=await make_org(db, "Left"), role=Role.USER)
    agent = await make_agent(db, account)
    schedule = await _schedule(db, account, agent)
    await _make_due(db, schedule, dt.timedelta(minutes=1))
    async with sessions() as session:
        (fired,) = await schedules.fire_due(session)
    task = await db.get(Task, fired.task_id)
    assert task is not None
    assert task.request_id == f"schedule:{schedule.id}"
    assert task.traceparent is not None
    # The creator leaves the organisation: later fire times are skipped, with the reason.
    await db.execute(delete(Membership).where(Membership.user_id == account.user.id))
    await db.commit()
    await _make_due(db, schedule, dt.timedelta(seconds=1))
    async with sessions() as session:
        assert [(f.task_id, f.error) for f in await schedules.fire_due(session)] == [
            (None, "permission_denied")
        ]


async def test_schedules_over_http(client: httpx.AsyncClient, db: AsyncSession, resources: Resources) -> None:
    org = await make_org(db, "Sched")
    owner = await make_account(db, resources, org=org, role=Role.USER)
    other = await make_account(db, resources, org=org, role=Role.USER)
    admin = await make_account(db, resources, org=org, role=Role.ADMIN)
    agent = await make_agent(db, owner)

    bad = await client.post(
        "/v1/schedules",
        json={"agent_id": str(agent.id), "name": "x", "cron": "99 * * * *"},
        headers=owner.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"] == [{"loc": ["body", "cron"]}]

    created = await client.post(
        "/v1/schedules",
        json={
            "agent_id": str(agent.id),
            "name": "Morning digest",
            "cron": "30 8 * * 1-5",
            "timezone": "America/New_York",
            "input": {"message": "digest"},
        },
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    fire = dt.datetime.fromisoformat(body["next_run_at"])
    assert fire.astimezone(dt.timezone(dt.timedelta(hours=-5))).hour in (8, 9)  # 08:30 New York, EST or EDT
    assert fire.weekday() < 5
    assert fire.minute == 30

    listed = await client.get(f"/v1/schedules?agent_id={agent.id}", headers=other.headers)
    assert [s["id"] for s in listed.json()] == [body["id"]]

    # Another member may read it, not change it; an admin (agents:manage) may.
    url = f"/v1/schedules/{body['id']}"
    assert (await client.patch(url, json={"enabled": False}, headers=other.headers)).status_code == 403
    disabled = await client.patch(url, json={"enabled": False}, headers=admin.headers)
    assert disabled.status_code == 200
    assert disabled.json()["next_run_at"] is None
    enabled = await client.patch(url, json={"enabled": True, "cron": "0 * * * *"}, headers=owner.headers)
    # A rename keeps the pending fire time (a due run is not skipped).
    renamed = await client.patch(url, json={"name": "Hourly"}, headers=owner.headers)
    assert renamed.json()["next_run_at"] == enabled.json()["next_run_at"]
    assert enabled.json()["next_run_at"] is not None
    assert enabled.json()["cron"] == "0 * * * *"
    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    assert (await client.get(url, headers=owner.headers)).status_code == 404


def test_next_fires_lists_consecutive_runs_across_a_clock_change() -> None:
    # Paris leaves summer time on 25 October 2026: 09:00 local is 07:00 UTC before, 08:00 UTC after.
    runs = schedules.next_fires("0 9 * * *", "Europe/Paris", dt.datetime(2026, 10, 24, 12, 0, tzinfo=UTC), 3)
    assert runs == [
        dt.datetime(2026, 10, 25, 8, 0, tzinfo=UTC),
        dt.datetime(2026, 10, 26, 8, 0, tzinfo=UTC),
        dt.datetime(2026, 10, 27, 8, 0, tzinfo=UTC),
    ]
    monday = schedules.next_fires("0 9 * * 1", "UTC", dt.datetime(2026, 11, 24, tzinfo=UTC), 2)
    assert [run.weekday() for run in monday] == [0, 0]
    assert monday[1] - monday[0] == dt.timedelta(days=7)


async def test_previewing_an_expression_over_http(
    client: httpx.AsyncClient, db: AsyncSession, resources: Resources
) -> None:
    org = await make_org(db, "Preview")
    member = await make_account(db, resources, org=org, role=Role.USER)
    before = utcnow()
    preview = await client.post(
        "/v1/schedules/preview",
        json={"cron": "*/15 * * * *", "timezone": "Asia/Kolkata", "count": 4},
        headers=member.headers,
    )
    assert preview.status_code == 200, preview.text
    runs = [dt.datetime.fromisoformat(run) for run in preview.json()["runs"]]
    assert len(runs) == 4
    assert before < runs[0] <= before + dt.timedelta(minutes=15)
    assert all(later - earlier == dt.timedelta(minutes=15) for earlier, later in itertools.pairwise(runs))
    assert all(run.minute % 15 == 0 for run in runs)  # Kolkata is UTC+05:30: quarter hours still line up

    default = await client.post("/v1/schedules/preview", json={"cron": "0 * * * *"}, headers=member.headers)
    assert len(default.json()["runs"]) == 5  # five runs, in UTC, by default
    for body, field in (
        ({"cron": "0 0 30 2 *"}, "cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone"),
    ):
        refused = await client.post("/v1/schedules/preview", json=body, headers=member.headers)
        assert refused.status_code == 422
        assert refused.json()["error"]["details"] == [{"loc": ["body", field]}]
    too_many = await client.post(
        "/v1/schedules/preview", json={"cron": "* * * * *", "count": 1000}, headers=member.headers
    )
    assert too_many.status_code == 422
    assert (await client.post("/v1/schedules/preview", json={"cron": "* * * * *"})).status_code == 401


async def test_a_schedule_input_must_fit_the_agents_input_schema(
    client: httpx.AsyncClient, db: AsyncSession, resources: Resources
) -> None:
    # A schedule whose input the agent refuses would be skipped at every fire time: refused when saved, with
    # the field errors task creation gives.
    owner = await make_account(db, resources, org=await make_org(db, "Typed"), role=Role.USER)
    agent = await make_agent(db, owner)
    version = await db.scalar(select(AgentVersion).where(AgentVersion.agent_id == agent.id))
    assert version is not None
    version.config = version.config | {
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        }
    }
    await db.commit()
    base = {"agent_id": str(agent.id), "name": "Forecast", "cron": "0 7 * * *"}

    refused = await client.post(
        "/v1/schedules", json=base | {"input": {"days": "three"}}, headers=owner.headers
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_input"
    assert {tuple(d["loc"]) for d in error["details"]} == {
        ("body", "input", "city"),
        ("body", "input", "days"),
    }
    assert (await db.scalars(select(Schedule).where(Schedule.agent_id == agent.id))).all() == []

    created = await client.post(
        "/v1/schedules", json=base | {"input": {"city": "Lyon", "days": 3}}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    url = f"/v1/schedules/{created.json()['id']}"

    changed = await client.patch(url, json={"input": {"days": 3}}, headers=owner.headers)
    assert changed.status_code == 422, changed.text
    assert [d["loc"] for d in changed.json()["error"]["details"]] == [["body", "input", "city"]]
    assert (await client.get(url, headers=owner.headers)).json()["input"] == {"city": "Lyon", "days": 3}

    # The agent's schema changes under a paused schedule: it can still be renamed, but not re-enabled as is.
    assert (await client.patch(url, json={"enabled": False}, headers=owner.headers)).status_code == 200
    version.config = version.config | {
        "input_schema": {
            "type": "object",
            "properties": {"region": {"type": "string"}},
            "required": ["region"],
        }
    }
    await db.commit()
    assert (await client.patch(url, json={"name": "Old forecast"}, headers=owner.headers)).status_code == 200
    reenabled = await client.patch(url, json={"enabled": True}, headers=owner.headers)
    assert reenabled.status_code == 422, reenabled.text
    fixed = await client.patch(
        url, json={"enabled": True, "input": {"region": "Rhône"}}, headers=owner.headers
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["next_run_at"] is not None
