"""Authenticating a school's system by its API key (stored only as a hash)."""

from __future__ import annotations

from storage.repositories.schools import school_for_api_key
from storage.session import Sessions


async def school_by_api_key(sessions: Sessions, key: str) -> int | None:
    """The id of the school this key belongs to, or None for an unknown key."""
    async with sessions() as session:
        school = await school_for_api_key(session, key)
    return school.id if school else None
