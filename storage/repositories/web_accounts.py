"""Staff accounts of the web inbox: reads and writes, found by the blind index of the phone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import School, StaffAccount, WebSession
from storage.repositories.tokens import token_hash


async def get_staff_by_phone(
    session: AsyncSession, phone_hashes: Sequence[str]
) -> StaffAccount | None:
    """The account of a phone (removed or not), by the blind index under any data key."""
    result = await session.execute(
        select(StaffAccount).where(StaffAccount.phone_hash.in_(list(phone_hashes)))
    )
    return result.scalars().first()


async def get_staff_account(session: AsyncSession, staff_id: int) -> StaffAccount | None:
    return await session.get(StaffAccount, staff_id)


async def list_staff_accounts(session: AsyncSession, school_id: int) -> Sequence[StaffAccount]:
    """The current (not removed) accounts of a school, oldest first."""
    result = await session.execute(
        select(StaffAccount)
        .where(StaffAccount.school_id == school_id, StaffAccount.removed_at.is_(None))
        .order_by(StaffAccount.id)
    )
    return result.scalars().all()


def add_staff_account(
    session: AsyncSession,
    *,
    school_id: int,
    role: str,
    phone_hash: str,
    pd_enc: bytes,
    now: datetime,
) -> StaffAccount:
    """Queue a new account in the caller's transaction."""
    account = StaffAccount(
        school_id=school_id, role=role, phone_hash=phone_hash, pd_enc=pd_enc, created_at=now
    )
    session.add(account)
    return account


async def end_sessions_of_staff(session: AsyncSession, staff_id: int) -> None:
    """Delete every browser session of an account (it was removed)."""
    await session.execute(delete(WebSession).where(WebSession.staff_id == staff_id))


async def school_has_web_staff(session: AsyncSession, school_id: int) -> bool:
    """Whether someone may decide the school's cases in the web inbox."""
    result = await session.execute(
        select(StaffAccount.id)
        .where(
            StaffAccount.school_id == school_id,
            StaffAccount.role == "staff",
            StaffAccount.removed_at.is_(None),
        )
        .limit(1)
    )
    return result.scalar_one_or_none() is not None


async def get_signed_in_staff(
    session: AsyncSession, raw_token: str, audience: str, now: datetime
) -> tuple[StaffAccount, School] | None:
    """The current account, with its school, of an unexpired session: one query, as every
    page asks it (a removed account has no session left, and is checked here too)."""
    result = await session.execute(
        select(StaffAccount, School)
        .join(WebSession, WebSession.staff_id == StaffAccount.id)
        .join(School, School.id == StaffAccount.school_id)
        .where(
            WebSession.token_hash == token_hash(raw_token),
            WebSession.audience == audience,
            WebSession.expires_at > now,
            StaffAccount.removed_at.is_(None),
        )
    )
    row = result.first()
    return (row[0], row[1]) if row else None
