"""Outbox rows outside the dispatcher's claim cycle."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage


async def requeue_dead(
    session: AsyncSession, recipient: str, kinds: Collection[str], now: datetime
) -> int:
    """Give dead messages to `recipient` of `kinds` a fresh start; returns how many."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.recipient == recipient,
            OutboxMessage.status == "dead",
            OutboxMessage.kind.in_(kinds),
            OutboxMessage.payload_enc.is_not(None),
        )
        .values(status="pending", attempts=0, next_attempt_at=now, last_error=None)
    )
    return int(cast("CursorResult[Any]", result).rowcount or 0)


async def has_replies_to(session: AsyncSession, origin: str) -> bool:
    """Tell whether anything was queued in answer to the update `origin`.

    Replies are keyed `<origin>:<purpose>`. A prefix match, not a key range: a range
    depends on the database's collation (under ICU collations ':' sorts by other rules).
    It scans the outbox, which is fine for the rare error answer that asks.
    """
    prefix = OutboxMessage.dedupe_key.startswith(f"{origin}:", autoescape=True)
    query = select(OutboxMessage.id).where(prefix).limit(1)
    return (await session.execute(query)).first() is not None
