"""Tenant isolation, enforced once for every ORM query.

A session that serves an organisation carries `session.info["org_id"]`. Every ORM SELECT, UPDATE and DELETE it
runs then gets `org_id = :org_id` added for each `TenantScoped` entity involved (including joins and
relationship loads), via SQLAlchemy's documented `with_loader_criteria` global-filter recipe. Routes and
services never filter by organisation by hand, so none can forget to.
"""

from __future__ import annotations

import uuid
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from agentic.db.base import Base

if TYPE_CHECKING:
    from sqlalchemy.orm import Mapped

ORG_ID_KEY = "org_id"


class TenantScoped:
    """Marker mixin for rows owned by an organisation (each model declares its own `org_id` column).

    In a session bound to an organisation, queries see only that organisation's rows.
    """

    if TYPE_CHECKING:
        org_id: Mapped[uuid.UUID] | Mapped[uuid.UUID | None]


def bind_session_to_org(session: Session, org_id: uuid.UUID) -> None:
    """Scope every later ORM query of `session` to `org_id`."""
    session.info[ORG_ID_KEY] = org_id


def session_org(session: Session) -> uuid.UUID | None:
    """The organisation a session is bound to, if any."""
    value = session.info.get(ORG_ID_KEY)
    return value if isinstance(value, uuid.UUID) else None


@cache
def _tenant_classes() -> tuple[type[Any], ...]:
    # The concrete mapped classes: the criteria lambda is analysed against the class it is given, and the
    # marker mixin itself has no column to analyse.
    return tuple(m.class_ for m in Base.registry.mappers if issubclass(m.class_, TenantScoped))


@lru_cache(maxsize=4096)
def _tenant_criteria(org_id: uuid.UUID) -> tuple[Any, ...]:
    # Built once per organisation and reused by every statement (options are immutable): building them per
    # statement — one analysed lambda per tenant class — was a large share of a request's CPU.
    return tuple(
        with_loader_criteria(cls, lambda c: c.org_id == org_id, include_aliases=True)
        for cls in _tenant_classes()
    )


@event.listens_for(Session, "do_orm_execute")
def _add_tenant_criteria(state: ORMExecuteState) -> None:
    org_id = session_org(state.session)
    if org_id is None or state.is_column_load or state.is_relationship_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(*_tenant_criteria(org_id))
