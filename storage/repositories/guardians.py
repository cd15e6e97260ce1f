"""Guardian look-ups by keyed hash; no decisions, no commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import DataCipher
from storage.models import Guardian


async def get_guardian_by_phone(
    session: AsyncSession, cipher: DataCipher, phone: str
) -> Guardian | None:
    """Find a guardian by E.164 phone under the current or any older data key."""
    hashes = cipher.blind_indexes(phone)
    result = await session.execute(select(Guardian).where(Guardian.phone_hash.in_(hashes)))
    return result.scalars().first()


async def get_guardian_by_telegram(session: AsyncSession, telegram_user_id: int) -> Guardian | None:
    result = await session.execute(
        select(Guardian).where(Guardian.telegram_user_id == telegram_user_id)
    )
    return result.scalars().first()


async def get_guardian(session: AsyncSession, guardian_id: int) -> Guardian | None:
    return await session.get(Guardian, guardian_id)


async def add_guardian(
    session: AsyncSession,
    cipher: DataCipher,
    *,
    phone: str,
    full_name: str,
    iin: str | None,
    now: datetime,
) -> Guardian:
    """Insert a guardian known so far only from a health signal."""
    guardian = Guardian(
        phone_hash=cipher.blind_index(phone),
        iin_hash=cipher.blind_index(iin) if iin else None,
        pd_enc=cipher.encrypt_json({"full_name": full_name, "phone": phone, "iin": iin}),
        created_at=now,
        updated_at=now,
    )
    session.add(guardian)
    await session.flush()
    return guardian
