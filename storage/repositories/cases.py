"""Case rows: reads, inserts and row locks; status rules live in bot.domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseStatus
from storage.models import Case, Guardian


class CaseNotFound(LookupError):
    """No case with that id."""


async def get_case(session: AsyncSession, case_id: str) -> Case | None:
    return await session.get(Case, case_id)


async def require_case(session: AsyncSession, case_id: str) -> Case:
    case = await session.get(Case, case_id)
    if case is None:
        raise CaseNotFound(case_id)
    return case


async def lock_case(session: AsyncSession, case_id: str) -> Case | None:
    """Load a case for update; on PostgreSQL the row stays locked until commit.

    SQLite has no row locks; there every write transaction is BEGIN IMMEDIATE, which
    serialises writers the same way.
    """
    result = await session.execute(
        select(Case)
        .where(Case.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalars().first()


async def get_case_by_signal(session: AsyncSession, signal_id: str) -> Case | None:
    result = await session.execute(select(Case).where(Case.signal_id == signal_id))
    return result.scalars().first()


async def list_cases_of_guardian(session: AsyncSession, guardian_id: int) -> Sequence[Case]:
    result = await session.execute(
        select(Case).where(Case.guardian_id == guardian_id).order_by(Case.created_at)
    )
    return result.scalars().all()


def add_case(session: AsyncSession, case: Case) -> Case:
    session.add(case)
    return case


async def get_highest_registration_number(
    session: AsyncSession, school_id: int, prefix: str
) -> str | None:
    """The school's highest registration number starting with `prefix` (a year's)."""
    result = await session.execute(
        select(func.max(Case.registration_number)).where(
            Case.school_id == school_id, Case.registration_number.like(f"{prefix}%")
        )
    )
    return result.scalar_one_or_none()


# -- candidates of the scheduler's sweeps: keyset pages of case ids ------------------
# Each query only narrows; the use case re-checks every case under its row lock.


async def _page(
    session: AsyncSession, query: Select[str], after: str | None, limit: int
) -> list[str]:
    if after is not None:
        query = query.where(Case.id > after)
    return list((await session.scalars(query.order_by(Case.id).limit(limit))).all())


def _in(statuses: Iterable[CaseStatus]) -> list[str]:
    return [s.value for s in statuses]


async def list_unreminded_reachable_ids(
    session: AsyncSession,
    statuses: Iterable[CaseStatus],
    *,
    notified_before: datetime,
    reminders_below: int,
    after: str | None,
    limit: int,
) -> list[str]:
    """Cases notified before a moment, with fewer reminders, whose guardian has a chat."""
    query = (
        select(Case.id)
        .join(Guardian, Guardian.id == Case.guardian_id)
        .where(
            Case.status.in_(_in(statuses)),
            Case.notified_at.is_not(None),
            Case.notified_at <= notified_before,
            Case.reminders_sent < reminders_below,
            Guardian.chat_id.is_not(None),
            Guardian.unreachable_at.is_(None),
        )
    )
    return await _page(session, query, after, limit)


async def list_school_unreminded_ids(
    session: AsyncSession,
    statuses: Iterable[CaseStatus],
    *,
    deadline_after: datetime,
    deadline_until: datetime,
    after: str | None,
    limit: int,
) -> list[str]:
    """Cases whose school was not reminded, with a deadline in (after, until]."""
    query = select(Case.id).where(
        Case.status.in_(_in(statuses)),
        Case.school_reminded_at.is_(None),
        Case.deadline_at > deadline_after,
        Case.deadline_at <= deadline_until,
    )
    return await _page(session, query, after, limit)


async def list_past_deadline_ids(
    session: AsyncSession,
    statuses: Iterable[CaseStatus],
    *,
    now: datetime,
    after: str | None,
    limit: int,
) -> list[str]:
    """Cases in `statuses` whose deadline is before `now`."""
    query = select(Case.id).where(Case.status.in_(_in(statuses)), Case.deadline_at < now)
    return await _page(session, query, after, limit)


async def list_unchanged_since_ids(
    session: AsyncSession,
    statuses: Iterable[CaseStatus],
    *,
    cutoff: datetime,
    after: str | None,
    limit: int,
) -> list[str]:
    """Cases in `statuses` not changed, notified or consented to after `cutoff`."""
    query = select(Case.id).where(
        Case.status.in_(_in(statuses)),
        Case.updated_at <= cutoff,
        func.coalesce(Case.notified_at, Case.created_at) <= cutoff,
        (Case.consented_at.is_(None)) | (Case.consented_at <= cutoff),
    )
    return await _page(session, query, after, limit)


async def list_unanswered_hearing_ids(
    session: AsyncSession, *, ends_after: datetime, ends_until: datetime, after: str | None,
    limit: int,
) -> list[str]:  # fmt: skip
    """Hearings without the guardian's position or a reminder, ending in (after, until]."""
    query = select(Case.id).where(
        Case.status == CaseStatus.HEARING.value,
        Case.hearing_answered_at.is_(None),
        Case.hearing_reminded_at.is_(None),
        Case.hearing_until > ends_after,
        Case.hearing_until <= ends_until,
    )
    return await _page(session, query, after, limit)


async def list_lapsed_hearing_ids(
    session: AsyncSession, *, now: datetime, after: str | None, limit: int
) -> list[str]:
    """Hearings whose window ended by `now` and whose school was not told yet."""
    query = select(Case.id).where(
        Case.status == CaseStatus.HEARING.value,
        Case.hearing_closed_at.is_(None),
        Case.hearing_until <= now,
    )
    return await _page(session, query, after, limit)
