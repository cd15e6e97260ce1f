"""Browser sessions and one-time sign-in codes; tokens and codes only as hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SignInCode, WebSession
from storage.repositories.tokens import token_hash


def add_web_session(
    session: AsyncSession,
    *,
    raw_token: str,
    audience: str,
    now: datetime,
    expires_at: datetime,
    staff_id: int | None = None,
    case_id: str | None = None,
) -> WebSession:
    """Queue a session row holding only the SHA-256 of the cookie's token."""
    row = WebSession(
        token_hash=token_hash(raw_token),
        audience=audience,
        staff_id=staff_id,
        case_id=case_id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    return row


async def get_live_session(
    session: AsyncSession, raw_token: str, audience: str, now: datetime
) -> WebSession | None:
    """The unexpired session of `audience` whose cookie token is `raw_token`."""
    result = await session.execute(
        select(WebSession).where(
            WebSession.token_hash == token_hash(raw_token),
            WebSession.audience == audience,
            WebSession.expires_at > now,
        )
    )
    return result.scalars().first()


async def end_session(session: AsyncSession, raw_token: str) -> None:
    """Delete the session of a cookie token (sign-out)."""
    await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(raw_token)))


async def end_expired_sessions(session: AsyncSession, now: datetime) -> int:
    """Delete sessions past their end; returns how many."""
    result = await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


async def lock_sign_in_code(session: AsyncSession, subject: str) -> SignInCode | None:
    """The code row of a subject, for update (SQLite: the write transaction serialises)."""
    result = await session.execute(
        select(SignInCode)
        .where(SignInCode.subject == subject)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalars().first()


async def lock_sign_in_challenge(session: AsyncSession, raw_challenge: str) -> SignInCode | None:
    """The code row a browser's challenge cookie points at, for update."""
    result = await session.execute(
        select(SignInCode)
        .where(SignInCode.challenge_hash == token_hash(raw_challenge))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalars().first()


def add_sign_in_code(session: AsyncSession, *, subject: str, now: datetime) -> SignInCode:
    """Queue the (still empty) code row of a subject."""
    row = SignInCode(subject=subject, attempts=0, created_at=now)
    session.add(row)
    return row


async def delete_idle_sign_in_codes(
    session: AsyncSession, idle_before: datetime, now: datetime
) -> int:
    """Delete code rows last sent before `idle_before` and not locked now; returns how many.

    A row outlives its code only to add up wrong answers towards the lock, so one idle
    for longer than a lock lasts holds nothing a new row would not.
    """
    result = await session.execute(
        delete(SignInCode).where(
            or_(SignInCode.sent_at.is_(None), SignInCode.sent_at < idle_before),
            SignInCode.created_at < idle_before,
            or_(SignInCode.locked_until.is_(None), SignInCode.locked_until <= now),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
