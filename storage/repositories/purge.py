"""Erasing personal data after the retention period; no decisions, no commits.

Each function nulls encrypted columns (or deletes rows that are nothing but personal
data) and returns how many rows it touched, so the caller can audit the counts.
Hashes (`Document.sha256`), statuses and timestamps stay: they hold no personal data
and keep the statistics and the proof of what was sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Application,
    Case,
    Document,
    FsmRecord,
    Guardian,
    GuardianStart,
    OutboxMessage,
)

# Outbox rows the dispatcher is done with; pending, retrying or leased rows keep their payload.
FINISHED_OUTBOX_STATUSES = ("sent", "dead")


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


def case_is_purgeable(final_statuses: Sequence[str], before: datetime) -> ColumnElement[bool]:
    """SQL condition: closed before `before` and not purged yet.

    A final case without `closed_at` (written before the column was always set) counts
    from its last change.
    """
    closed = Case.closed_at.is_not(None) & (Case.closed_at < before)
    closed_unknown = Case.closed_at.is_(None) & (Case.updated_at < before)
    return and_(
        Case.status.in_(list(final_statuses)),
        Case.purged_at.is_(None),
        or_(closed, closed_unknown),
    )


async def list_purgeable_case_ids(
    session: AsyncSession,
    final_statuses: Sequence[str],
    before: datetime,
    *,
    after: str | None,
    limit: int,
) -> list[str]:
    """Return up to `limit` ids of purgeable cases, in id order, after `after`."""
    query = select(Case.id).where(case_is_purgeable(final_statuses, before))
    if after is not None:
        query = query.where(Case.id > after)
    result = await session.execute(query.order_by(Case.id).limit(limit))
    return list(result.scalars().all())


async def erase_case_documents(session: AsyncSession, case_id: str) -> int:
    """Drop the PDFs of a case; their SHA-256 stays as proof of what was issued."""
    result = await session.execute(
        update(Document)
        .where(Document.case_id == case_id, Document.content_enc.is_not(None))
        .values(content_enc=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


async def erase_case_application(session: AsyncSession, case_id: str) -> int:
    """Drop the guardian's form answers (address, note)."""
    result = await session.execute(
        update(Application)
        .where(Application.case_id == case_id, Application.fields_enc.is_not(None))
        .values(fields_enc=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


async def erase_case_outbox(session: AsyncSession, case_id: str) -> int:
    """Drop the payloads of a case's finished outbox rows; status and times stay."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.case_id == case_id,
            OutboxMessage.status.in_(FINISHED_OUTBOX_STATUSES),
            OutboxMessage.payload_enc.is_not(None),
        )
        .values(payload_enc=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


async def erase_old_outbox_payloads(session: AsyncSession, before: datetime) -> int:
    """Drop payloads of finished rows about no case (replies, lists) created before `before`."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.case_id.is_(None),
            OutboxMessage.status.in_(FINISHED_OUTBOX_STATUSES),
            OutboxMessage.payload_enc.is_not(None),
            OutboxMessage.created_at < before,
        )
        .values(payload_enc=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def _has_unpurged_case() -> ColumnElement[bool]:
    return exists().where(Case.guardian_id == Guardian.id, Case.purged_at.is_(None))


def _has_any_case() -> ColumnElement[bool]:
    return exists().where(Case.guardian_id == Guardian.id)


def _guardian_is_purgeable() -> ColumnElement[bool]:
    """Every case of the guardian is purged, and something is left to erase."""
    holds_data = or_(Guardian.pd_enc.is_not(None), Guardian.iin_hash.is_not(None))
    return and_(holds_data, _has_any_case(), ~_has_unpurged_case())


async def list_purgeable_guardian_ids(
    session: AsyncSession, *, after: int | None, limit: int
) -> list[int]:
    """Return up to `limit` ids of guardians whose cases are all purged, in id order."""
    query = select(Guardian.id).where(_guardian_is_purgeable())
    if after is not None:
        query = query.where(Guardian.id > after)
    result = await session.execute(query.order_by(Guardian.id).limit(limit))
    return list(result.scalars().all())


async def lock_purgeable_guardian(session: AsyncSession, guardian_id: int) -> Guardian | None:
    """Lock the guardian if it is (still) purgeable; None otherwise.

    The lock also makes a concurrent intake that adds a case for this guardian wait
    (its foreign key check needs a share lock on the row) until we commit.
    """
    result = await session.execute(
        select(Guardian)
        .where(Guardian.id == guardian_id, _guardian_is_purgeable())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalars().first()


async def delete_stale_dialogs(session: AsyncSession, before: datetime) -> int:
    """Delete dialogs untouched since `before`: staff FSM rows (state and encrypted
    data) and chats that opened the bot but never shared their phone."""
    fsm = await session.execute(delete(FsmRecord).where(FsmRecord.updated_at < before))
    starts = await session.execute(delete(GuardianStart).where(GuardianStart.updated_at < before))
    return _rowcount(fsm) + _rowcount(starts)
