"""Request dependencies, as `Annotated` aliases routes declare by type.

Every dependency is `async def`, even those that only read an attribute: FastAPI runs a plain `def` in a
worker thread, and that thread hop, once per dependency and request, cost more than the work itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.config import Settings
from agentic.resources import Resources
from agentic.services.event_feeds import EventFeeds


def app_resources(request: Request) -> Resources:
    """The process-wide resources opened by the app's lifespan (a plain function, for other dependencies).

    Dependencies read them through this rather than declaring `ResourcesDep`: FastAPI works out a cache key
    for every sub-dependency of every request (unwrapping each callable), which cost more than the lookup.
    """
    resources: Resources = request.app.state.resources
    return resources


async def get_resources(request: Request) -> Resources:
    """The process-wide resources opened by the app's lifespan."""
    return app_resources(request)


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_event_feeds(request: Request) -> EventFeeds:
    """The process's live event reader (every event stream of this process goes through it)."""
    feeds: EventFeeds = request.app.state.event_feeds
    return feeds


EventFeedsDep = Annotated[EventFeeds, Depends(get_event_feeds)]


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with (not re-read from the environment)."""
    return app_resources(request).settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A database session for one request; services commit explicitly, anything uncommitted is rolled back."""
    async with app_resources(request).sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_request_id(request: Request) -> str | None:
    """The request ID set by the request-context middleware."""
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


RequestIdDep = Annotated[str | None, Depends(get_request_id)]
