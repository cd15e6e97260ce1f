"""The outbox gauges an operator alerts on: a message deferred on purpose is not stuck."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import update

from bot.clock import FrozenClock
from bot.metrics import Metrics
from bot.runtime import Services
from bot.usecases.messages import text_message
from storage.models import OutboxMessage
from storage.outbox import Kind, enqueue


async def oldest_due(services: Services) -> float:
    metrics = Metrics()
    async with services.sessions() as session:
        await metrics.refresh(session, services.clock.now())
    return float(metrics.outbox_oldest_due._value.get())


async def test_oldest_due_counts_due_and_expired_rows_not_deferred_ones(
    services: Services, clock: FrozenClock
) -> None:
    now = clock.now()
    evening = text_message("deferred", Kind.NOTICE, 1, "…")
    async with services.sessions.begin() as session:
        deferred = replace(evening, not_before=now + timedelta(hours=12))
        await enqueue(session, services.cipher, now - timedelta(hours=3), deferred)
    assert await oldest_due(services) == 0  # waiting since 3 h, but for the morning

    async with services.sessions.begin() as session:
        due = text_message("due", Kind.REPLY, 2, "…")
        await enqueue(session, services.cipher, now - timedelta(minutes=10), due)
    assert await oldest_due(services) == 600

    async with services.sessions.begin() as session:  # a sender died holding it
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.dedupe_key == "due")
            .values(status="sending", claimed_until=now - timedelta(minutes=20))
        )
    assert await oldest_due(services) == 1200

    async with services.sessions.begin() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.dedupe_key == "due").values(status="sent")
        )
    assert await oldest_due(services) == 0
