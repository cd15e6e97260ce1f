"""Case rows: reads, inserts and row locks; status rules live in bot.domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case


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
