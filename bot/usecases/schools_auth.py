"""Authenticating a school's system by its API key (stored only as a hash)."""

from __future__ import annotations

from bot.runtime import Services
from storage.repositories.schools import school_for_api_key


async def school_by_api_key(svc: Services, key: str) -> int | None:
    """The id of the school this key belongs to, or None for an unknown key."""
    async with svc.sessions() as session:
        school = await school_for_api_key(session, key)
    return school.id if school else None
