"""One-time link tokens (guardian deep links, school invite codes), kept only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import LinkToken


def token_hash(raw: str) -> str:
    """Return the SHA-256 hex digest under which a token or key is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


def new_link_token() -> str:
    """A fresh random token for a deep link (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


def link_token_row(
    *,
    raw: str,
    purpose: str,
    expires_at: datetime,
    now: datetime,
    school_id: int | None = None,
    case_id: str | None = None,
) -> dict[str, Any]:
    """A token row holding only the hash of `raw`, as a mapping for bulk inserts."""
    return {
        "token_hash": token_hash(raw),
        "purpose": purpose,
        "school_id": school_id,
        "case_id": case_id,
        "expires_at": expires_at,
        "created_at": now,
    }


def add_link_token(
    session: AsyncSession,
    *,
    raw: str,
    purpose: str,
    expires_at: datetime,
    now: datetime,
    school_id: int | None = None,
    case_id: str | None = None,
) -> LinkToken:
    """Queue a token row holding only the hash of `raw`, in the caller's transaction."""
    row = link_token_row(
        raw=raw, purpose=purpose, expires_at=expires_at, now=now, school_id=school_id,
        case_id=case_id,
    )  # fmt: skip
    token = LinkToken(**row)
    session.add(token)
    return token


async def lock_link_token(session: AsyncSession, raw: str, purpose: str) -> LinkToken | None:
    """Load the token for `raw` for update, so two redemptions cannot both succeed.

    SQLite has no row locks; there every write transaction is BEGIN IMMEDIATE, which
    serialises redemptions the same way.
    """
    result = await session.execute(
        select(LinkToken)
        .where(LinkToken.token_hash == token_hash(raw), LinkToken.purpose == purpose)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalars().first()


async def get_link_token(session: AsyncSession, raw: str, purpose: str) -> LinkToken | None:
    """The token for `raw`, read only (a page that shows what the link is for)."""
    result = await session.execute(
        select(LinkToken).where(
            LinkToken.token_hash == token_hash(raw), LinkToken.purpose == purpose
        )
    )
    return result.scalars().first()
