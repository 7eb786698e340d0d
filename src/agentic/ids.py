"""Identifiers.

Primary keys are UUIDv7: globally unique (safe to generate on any replica without a round trip) and
time-ordered, so B-tree inserts stay local and `ORDER BY id` doubles as creation order for cursor pagination.
"""

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    """A new time-ordered UUIDv7."""
    return uuid7()
