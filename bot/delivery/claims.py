"""Outbox row leases: claim due rows, give unsent ones back, record each outcome.

A claimed row is `sending` with `claimed_until` = end of its lease. Only the claimer
writes the row's outcome, and only while nobody claimed the row after it: the lease
end on the row is the one it took, or earlier when `recover_orphans` shortened it (a
later claim ends later, as long as the replicas' clocks agree to within its grace). A
row whose claimer died becomes due again when the lease runs out, so nothing stays
claimed forever; the next sender shortens the wait (`recover_orphans`). Each function
runs in the caller's (short) transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.pacing import ChatId
from storage.models import OutboxMessage

ORDERED_CHANNELS = frozenset({"telegram", "webhook"})


@dataclass(frozen=True)
class Claim:
    """What the dispatcher keeps of a claimed row between claim and outcome."""

    id: int
    dedupe_key: str
    channel: str
    kind: str
    recipient: str
    case_id: str | None
    attempts: int
    payload_enc: bytes
    previous_status: str
    lease: datetime
    order_key: str | None  # see `order_key`
    chat: ChatId | None  # the Telegram chat, for the pacer


def order_key(channel: str, recipient: str) -> str | None:
    """Rows with the same key are sent one at a time, in id order.

    Telegram chats and school webhooks need their messages in order (a notice before
    its document); SMS rows share one recipient key and need no order.
    """
    return f"{channel}:{recipient}" if channel in ORDERED_CHANNELS else None


def chat_of(recipient: str) -> ChatId:
    """The chat of a Telegram row's recipient: a numeric chat id or an @username."""
    return int(recipient) if recipient.lstrip("-").isdigit() else recipient


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    exclude_ids: Collection[int] = (),
    channels: Collection[str] | None = None,
    skip_channels: Collection[str] = (),
    skip_recipients: Collection[str] = (),
) -> list[Claim]:
    """Lease up to `limit` due rows, oldest first, none of `skip_channels` or
    `skip_recipients` (destinations that are down).

    Due: `pending`/`retry` whose `next_attempt_at` has come, or `sending` whose lease
    ran out (its claimer died). On PostgreSQL the rows are locked with SKIP LOCKED, so
    concurrent claimers never take the same row.
    """
    table = OutboxMessage
    due = or_(
        and_(table.status.in_(("pending", "retry")), table.next_attempt_at <= now),
        and_(table.status == "sending", table.claimed_until < now),
    )
    query = select(table).where(due).order_by(table.id).limit(limit)
    if exclude_ids:
        query = query.where(table.id.not_in(list(exclude_ids)))
    if channels is not None:
        query = query.where(table.channel.in_(list(channels)))
    if skip_channels:
        query = query.where(table.channel.not_in(list(skip_channels)))
    if skip_recipients:
        query = query.where(table.recipient.not_in(list(skip_recipients)))
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    rows = (await session.scalars(query)).all()
    if not rows:
        return []
    until = now + lease
    ids = [row.id for row in rows]
    await session.execute(
        update(table)
        .where(table.id.in_(ids))
        .values(status="sending", claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    return [_claim(row, until) for row in rows]


def _claim(row: OutboxMessage, until: datetime) -> Claim:
    previous = row.status
    if previous == "sending":  # an expired lease: the row had been pending or retrying
        previous = "retry" if row.attempts else "pending"
    return Claim(
        id=row.id,
        dedupe_key=row.dedupe_key,
        channel=row.channel,
        kind=row.kind,
        recipient=row.recipient,
        case_id=row.case_id,
        attempts=row.attempts,
        payload_enc=row.payload_enc or b"",
        previous_status=previous,
        lease=until,
        order_key=order_key(row.channel, row.recipient),
        chat=chat_of(row.recipient) if row.channel == "telegram" else None,
    )


async def recover_orphans(session: AsyncSession, *, now: datetime, grace: timedelta) -> int:
    """Make rows left `sending` by a sender that is gone due after `grace`; return how many.

    Called when a dispatcher becomes the one sender for its bot token (SQLite: at
    start; PostgreSQL: on taking the advisory lock). Any `sending` row then belongs to
    an earlier sender that was killed, crashed or lost the lock; without this, its
    rows (often a whole queue) would wait for the rest of their lease, up to a minute
    after a restart. Not at once: a sender that merely lost its lock connection finds
    out at its next check (a second or so) and meanwhile may finish a send; its outcome
    is still accepted (see module doc) unless the row was claimed again. A message whose
    send was cut off by a kill goes out once more: Telegram offers no idempotency key.
    """
    until = now + grace
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.claimed_until > until)
        .values(claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, claims: Sequence[tuple[Claim, datetime]]) -> int:
    """Give unsent rows back as they were, due at the paired time; return how many.

    Used for rows that cannot go out soon (their chat is paced or waits behind a
    failed message) and for the queue of a stopping dispatcher. An attempt is not
    counted: nothing was sent.
    """
    released = 0
    for claim, due_at in claims:
        result = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == claim.id,
                OutboxMessage.status == "sending",
                OutboxMessage.claimed_until <= claim.lease,
            )
            .values(status=claim.previous_status, claimed_until=None, next_attempt_at=due_at)
            .execution_options(synchronize_session=False)
        )
        released += result.rowcount  # type: ignore[attr-defined]
    return released


async def load_owned(session: AsyncSession, claims: Sequence[Claim]) -> dict[int, OutboxMessage]:
    """Return the rows, locked, that nobody claimed since these claims, by id."""
    leases = {claim.id: claim.lease for claim in claims}
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(sorted(leases)))
        .order_by(OutboxMessage.id)
        .execution_options(populate_existing=True)
    )
    if _is_postgres(session):
        query = query.with_for_update()
    rows = (await session.scalars(query)).all()
    return {
        row.id: row
        for row in rows
        if row.status == "sending"
        and row.claimed_until is not None
        and row.claimed_until <= leases[row.id]
    }


def mark_sent(row: OutboxMessage, now: datetime) -> None:
    row.status = "sent"
    row.sent_at = now
    row.claimed_until = None
    row.last_error = None


def mark_retry(
    row: OutboxMessage, now: datetime, delay_s: float, error: str, *, counts: bool
) -> None:
    """Schedule another attempt; a flood-control wait (`counts=False`) is no failure."""
    row.status = "retry"
    row.attempts = row.attempts + (1 if counts else 0)
    row.next_attempt_at = now + timedelta(seconds=delay_s)
    row.claimed_until = None
    row.last_error = error[:300]


def mark_dead(row: OutboxMessage, error: str, *, counts: bool = True) -> None:
    row.status = "dead"
    row.attempts = row.attempts + (1 if counts else 0)
    row.claimed_until = None
    row.last_error = error[:300]
