"""The web channel: staff accounts of schools and authorities, browser sessions, sign-in codes.

Nothing here is usable if the table leaks: session tokens are kept as SHA-256, one-time
codes as a keyed hash, phones as the blind index and names encrypted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime

STAFF_ROLES = ("staff", "authority")
SESSION_AUDIENCES = ("school", "guardian")


class StaffAccount(Base):
    """A person who signs in at `/school` by phone: a school's staff member, or the local
    education authority's read-only contact for the overdue cases of its schools.

    Removal keeps the row (`removed_at`), so an audit label `web:staff:<id>` still names
    who decided; the sessions of a removed account end at once.
    """

    __tablename__ = "staff_accounts"
    __table_args__ = (
        CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in STAFF_ROLES) + ")", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    phone_hash: Mapped[str] = mapped_column(String(64), unique=True)
    pd_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A signed-in browser: the cookie holds the token, the row only its SHA-256."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        CheckConstraint(
            "audience IN (" + ", ".join(f"'{a}'" for a in SESSION_AUDIENCES) + ")",
            name="audience",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    audience: Mapped[str] = mapped_column(String(10))
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class SignInCode(Base):
    """The one-time SMS code of one subject (a staff account, a guardian's link).

    One row per subject, reused for every code it is sent, so that failed attempts add
    up across re-sent codes: five wrong answers lock the subject for an hour, whatever
    number of codes were asked for meanwhile. The browser that asked holds the
    challenge token (a cookie), the row its SHA-256; the code itself is a keyed hash.
    """

    __tablename__ = "sign_in_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), unique=True)
    challenge_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
