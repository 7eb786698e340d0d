"""Organisations."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Organization

_MAX_SLUG = 48


def slugify(name: str) -> str:
    """A URL-safe slug: ASCII-folded, lower-case, dash-separated ("Zürich AG" → "zurich-ag")."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    return slug[:_MAX_SLUG].rstrip("-") or "org"


async def unique_slug(session: AsyncSession, *, name: str) -> str:
    """A slug for `name` not used by any organisation yet (adds -2, -3, … on collision)."""
    base = slugify(name)
    taken = set(
        (await session.scalars(select(Organization.slug).where(Organization.slug.like(f"{base}%")))).all()
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def create_organization(session: AsyncSession, *, name: str) -> Organization:
    """Add a new organisation with a unique slug to the session (flushed, not committed)."""
    org = Organization(name=name, slug=await unique_slug(session, name=name), settings={})
    session.add(org)
    await session.flush()
    return org
