"""Generated PDFs: stored encrypted, with the SHA-256 that proves which file was issued."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import DataCipher
from storage.models import Document


async def add_document(
    session: AsyncSession,
    cipher: DataCipher,
    *,
    case_id: str,
    kind: str,
    language: str,
    pdf: bytes,
    now: datetime,
) -> Document:
    """Store a PDF of a case; flushed so that outbox rows can refer to its id."""
    document = Document(
        case_id=case_id,
        kind=kind,
        language=language,
        content_enc=cipher.encrypt_bytes(pdf),
        sha256=hashlib.sha256(pdf).hexdigest(),
        created_at=now,
    )
    session.add(document)
    await session.flush()
    return document


async def get_case_document(session: AsyncSession, case_id: str, kind: str) -> Document | None:
    """The PDF of one kind (application, receipt, refusal) of a case, if it was made."""
    result = await session.execute(
        select(Document).where(Document.case_id == case_id, Document.kind == kind)
    )
    return result.scalars().first()
