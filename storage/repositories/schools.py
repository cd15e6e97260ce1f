"""School registry reads and writes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import School, SchoolWord, StaffChat, table_of
from storage.models.schools import SEARCH_WORD_LENGTH
from storage.repositories.tokens import token_hash

# Bound parameters per IN (...) query: far below SQLite's and asyncpg's 32k limits.
_IN_CHUNK = 1000
_WORD = re.compile(r"\w+")
_AFTER_EVERY_WORD = "\U0010ffff"  # the last code point: `word < prefix + this` ends a prefix


def search_words(*texts: str | None) -> set[str]:
    """The words a text is searched by: NFC, case-folded (Cyrillic too, which SQLite's
    LIKE does not fold), split at everything but letters and digits ("№12" is "12")."""
    words: set[str] = set()
    for text in texts:
        if text:
            folded = unicodedata.normalize("NFC", text).casefold()
            words.update(word[:SEARCH_WORD_LENGTH] for word in _WORD.findall(folded))
    return words


async def replace_school_words(session: AsyncSession, schools: Sequence[School]) -> None:
    """Store the search words of `schools` (flushed, so with ids) from their current names."""
    ids = [school.id for school in schools]
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        await session.execute(delete(SchoolWord).where(SchoolWord.school_id.in_(chunk)))
    rows = [
        {"word": word, "school_id": school.id}
        for school in schools
        for word in sorted(
            search_words(school.bin, school.name_kk, school.name_ru, school.locality)
        )
    ]
    for start in range(0, len(rows), _IN_CHUNK):
        await session.execute(insert(table_of(SchoolWord)), rows[start : start + _IN_CHUNK])


async def find_schools(session: AsyncSession, query: str, limit: int) -> Sequence[School]:
    """Schools having, for every word of `query`, a word that starts with it; by id.

    Each typed word is one range of the `school_words` primary key, so a search reads
    a few index entries and at most `limit` schools, however large the registry.
    """
    prefixes = sorted(search_words(query))
    if not prefixes:
        return []
    statement = select(School)
    for prefix in prefixes:
        having_word = select(SchoolWord.school_id).where(
            SchoolWord.word >= prefix, SchoolWord.word < prefix + _AFTER_EVERY_WORD
        )
        statement = statement.where(School.id.in_(having_word))
    result = await session.execute(statement.order_by(School.id).limit(limit))
    return result.scalars().all()


async def get_school_by_bin(session: AsyncSession, bin_: str) -> School | None:
    result = await session.execute(select(School).where(School.bin == bin_))
    return result.scalars().first()


async def get_school(session: AsyncSession, school_id: int) -> School | None:
    return await session.get(School, school_id)


async def lock_school(session: AsyncSession, school_id: int) -> School | None:
    """Load a school for update: on PostgreSQL, writers of one school's numbering queue here.

    SQLite serialises every write transaction anyway (BEGIN IMMEDIATE).
    """
    result = await session.execute(select(School).where(School.id == school_id).with_for_update())
    return result.scalars().first()


async def list_staff_chats(session: AsyncSession, school_id: int) -> Sequence[StaffChat]:
    result = await session.execute(
        select(StaffChat).where(StaffChat.school_id == school_id).order_by(StaffChat.id)
    )
    return result.scalars().all()


async def map_schools_by_bin(session: AsyncSession, bins: Iterable[str]) -> dict[str, School]:
    """Return the stored schools among `bins`, keyed by BIN."""
    wanted = sorted(set(bins))
    found: dict[str, School] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        result = await session.execute(select(School).where(School.bin.in_(chunk)))
        found.update((school.bin, school) for school in result.scalars())
    return found


async def map_staff_chats(session: AsyncSession, chat_ids: Iterable[int]) -> dict[int, StaffChat]:
    """Return the staff chats among `chat_ids`, keyed by Telegram chat id."""
    wanted = sorted(set(chat_ids))
    found: dict[int, StaffChat] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        result = await session.execute(select(StaffChat).where(StaffChat.chat_id.in_(chunk)))
        found.update((chat.chat_id, chat) for chat in result.scalars())
    return found


async def get_staff_chat(session: AsyncSession, chat_id: int) -> StaffChat | None:
    result = await session.execute(select(StaffChat).where(StaffChat.chat_id == chat_id))
    return result.scalars().first()


def add_staff_chat(
    session: AsyncSession,
    *,
    school_id: int,
    chat_id: int,
    now: datetime,
    linked_by_user_id: int | None = None,
) -> StaffChat:
    """Queue a staff chat row in the caller's transaction."""
    chat = StaffChat(
        school_id=school_id, chat_id=chat_id, linked_by_user_id=linked_by_user_id, created_at=now
    )
    session.add(chat)
    return chat


async def school_for_api_key(session: AsyncSession, key: str) -> School | None:
    """Find the school whose current decision-API key is `key` (compared by SHA-256).

    Only the hash is stored, and the look-up is by that hash, so no key comparison
    happens in Python and a leaked table reveals no usable key.
    """
    if not key:
        return None
    result = await session.execute(select(School).where(School.api_key_hash == token_hash(key)))
    return result.scalars().first()
