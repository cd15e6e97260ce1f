"""The cases a school's web inbox and an authority's overview list."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case, School


async def list_school_cases(
    session: AsyncSession, school_ids: Collection[int], statuses: Collection[str]
) -> Sequence[Case]:
    """Cases of `school_ids` in `statuses`, the nearest deadline first."""
    if not school_ids:
        return []
    result = await session.execute(
        select(Case)
        .where(Case.school_id.in_(list(school_ids)), Case.status.in_(list(statuses)))
        .order_by(Case.deadline_at, Case.id)
    )
    return result.scalars().all()


async def list_schools_of_authority(session: AsyncSession, school: School) -> Sequence[School]:
    """The schools that have the same local education authority as `school` (by name in
    either language, as the registry gives it); `school` itself at least."""
    same = [School.id == school.id]
    if school.authority_ru:
        same.append(School.authority_ru == school.authority_ru)
    if school.authority_kk:
        same.append(School.authority_kk == school.authority_kk)
    result = await session.execute(select(School).where(or_(*same)).order_by(School.id))
    return result.scalars().all()
