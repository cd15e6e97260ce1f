"""Read-only aggregates over cases, consent records and the outbox, for `stats`."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, distinct, exists, func, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from storage.models import Case, ConsentRecord, Guardian, OutboxMessage, School, StaffChat


async def count_cases_by_status(session: AsyncSession) -> dict[str, int]:
    """Return {status: number of cases}; statuses without cases are absent."""
    result = await session.execute(select(Case.status, func.count()).group_by(Case.status))
    return {status: int(n) for status, n in result.all()}


async def count_consent_answers(session: AsyncSession) -> tuple[int, int]:
    """Return (cases that ever agreed, cases with any consent answer).

    A decline later corrected by a re-consent counts once, as consent.
    """
    agreed = func.count(
        distinct(sql_case((ConsentRecord.choice == "agree", ConsentRecord.case_id)))
    )
    answered = func.count(distinct(ConsentRecord.case_id))
    row = (await session.execute(select(agreed, answered))).one()
    return int(row[0]), int(row[1])


async def list_durations(
    session: AsyncSession,
    start: QueryableAttribute[Any],
    end: QueryableAttribute[Any],
) -> list[timedelta]:
    """Return `end - start` for every case where both timestamps are set."""
    result = await session.execute(select(start, end).where(start.is_not(None), end.is_not(None)))
    return [finish - begin for begin, finish in result.all()]


async def count_outbox(session: AsyncSession, status: str) -> int:
    stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == status)
    return int(await session.scalar(stmt) or 0)


async def count_open_cases_of_unreachable(
    session: AsyncSession, final_statuses: Collection[str]
) -> int:
    """Count cases not in `final_statuses` whose guardian is marked unreachable."""
    stmt = (
        select(func.count())
        .select_from(Case)
        .join(Guardian, Guardian.id == Case.guardian_id)
        .where(Guardian.unreachable_at.is_not(None), Case.status.not_in(final_statuses))
    )
    return int(await session.scalar(stmt) or 0)


async def count_open_cases_without_inbox(
    session: AsyncSession, final_statuses: Collection[str]
) -> int:
    """Count open cases with no school, or whose school has no staff chat and no webhook."""
    has_chat = exists().where(StaffChat.school_id == School.id)
    no_inbox = and_(or_(School.webhook_url.is_(None), School.webhook_url == ""), ~has_chat)
    stmt = (
        select(func.count())
        .select_from(Case)
        .outerjoin(School, School.id == Case.school_id)
        .where(Case.status.not_in(final_statuses), or_(Case.school_id.is_(None), no_inbox))
    )
    return int(await session.scalar(stmt) or 0)
