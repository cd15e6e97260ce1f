"""Outbox rows outside the dispatcher's claim cycle."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import update
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
    return int(result.rowcount or 0)
