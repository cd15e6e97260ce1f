"""Consent evidence: the exact texts shown and the guardian's answers to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConsentRecord, ConsentText, table_of


async def keep_consent_text(
    session: AsyncSession, *, sha256: str, version: str, language: str, text: str, now: datetime
) -> None:
    """Store the text once: a second guardian shown the same wording adds nothing, and two
    answers at the same moment cannot clash on the unique hash."""
    connection = await session.connection()
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table_of(ConsentText)).on_conflict_do_nothing(
        index_elements=["sha256"]
    )
    row = {"sha256": sha256, "version": version, "language": language, "text": text}
    await connection.execute(statement, [{**row, "created_at": now}])


async def get_consent_text(session: AsyncSession, sha256: str) -> ConsentText | None:
    result = await session.execute(select(ConsentText).where(ConsentText.sha256 == sha256))
    return result.scalars().first()


async def latest_consent(
    session: AsyncSession, case_id: str, choice: str | None = None
) -> ConsentRecord | None:
    """The case's last consent answer (of `choice`, when given)."""
    query = select(ConsentRecord).where(ConsentRecord.case_id == case_id)
    if choice is not None:
        query = query.where(ConsentRecord.choice == choice)
    result = await session.execute(query.order_by(ConsentRecord.id.desc()).limit(1))
    return result.scalars().first()
