"""A private chat that opened the bot and has not shared its phone yet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime


class GuardianStart(Base):
    """Where a chat is before it is a guardian's: the language told or chosen, the deep
    link it came with, the question asked (the language or the phone).

    The link is kept as its hash, like `link_tokens` keeps it: the token itself is the
    secret of an SMS. The row goes when the chat links; the retention purge deletes
    rows nobody touched for as long.
    """

    __tablename__ = "guardian_starts"
    __table_args__ = (CheckConstraint("asked IN ('language', 'contact')", name="asked"),)

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    language: Mapped[str | None] = mapped_column(String(2))
    token_hash: Mapped[str | None] = mapped_column(String(64))
    asked: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
