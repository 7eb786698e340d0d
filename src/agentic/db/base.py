"""Declarative base shared by every model."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agentic.db.types import UTCDateTime, utcnow
from agentic.ids import new_id

# Deterministic constraint names: identical on SQLite and PostgreSQL, so one migration tree can alter or drop
# them on both, and autogenerate can compare them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of all ORM models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    """A UUIDv7 primary key generated in Python (no round trip, sortable by creation time)."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id, sort_order=-10)


class CreatedAtMixin:
    """Creation time."""

    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, nullable=False, sort_order=10
    )


class TimestampMixin(CreatedAtMixin):
    """Creation and last-update time."""

    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False, sort_order=11
    )
