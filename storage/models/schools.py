"""School registry, its staff chats and API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime


class School(Base):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    bin: Mapped[str] = mapped_column(String(12), unique=True)
    name_kk: Mapped[str | None] = mapped_column(Text)
    name_ru: Mapped[str | None] = mapped_column(Text)
    authority_kk: Mapped[str | None] = mapped_column(Text)
    authority_ru: Mapped[str | None] = mapped_column(Text)
    locality: Mapped[str | None] = mapped_column(Text)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    escalation_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


SEARCH_WORD_LENGTH = 100
_SEARCH_WORD = String(SEARCH_WORD_LENGTH).with_variant(
    String(SEARCH_WORD_LENGTH, collation="C"), "postgresql"
)
"""Compared by code point on both databases (SQLite's default), so that a prefix is a range."""


class SchoolWord(Base):
    """One searchable word of a school (names, locality, BIN), case-folded: a guardian's
    typed words are looked up as prefixes in this table's primary-key index."""

    __tablename__ = "school_words"

    word: Mapped[str] = mapped_column(_SEARCH_WORD, primary_key=True)
    school_id: Mapped[int] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class StaffChat(Base):
    """A Telegram chat that is one school's inbox (linked by import or `/link CODE`)."""

    __tablename__ = "staff_chats"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    linked_by_user_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
