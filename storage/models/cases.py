"""Cases, their consent records and documents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.domain.status import CaseStatus
from storage.models.base import Base, UtcDateTime

_STATUS_VALUES = ", ".join(f"'{s.value}'" for s in CaseStatus)


class Case(Base):
    """One VKK recommendation for one child, from signal to the school's decision.

    Personal data (child, conclusion) live only in `pd_enc`; the purge nulls it and
    keeps the timestamps, so statistics survive the retention period.
    """

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),
        CheckConstraint("grade IS NULL OR grade BETWEEN 0 AND 11", name="grade"),
        UniqueConstraint("school_id", "registration_number", name="uq_cases_school_regno"),
        Index("ix_cases_status_updated", "status", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    signal_id: Mapped[str] = mapped_column(String(128), unique=True)
    signal_digest: Mapped[str] = mapped_column(String(64))
    guardian_id: Mapped[int] = mapped_column(ForeignKey("guardians.id"), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    school_bin: Mapped[str | None] = mapped_column(String(12))
    grade: Mapped[int | None] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(20))
    pd_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    child_iin_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    consented_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    forwarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refusal_ground: Mapped[int | None] = mapped_column(SmallInteger)
    refusal_reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    registration_number: Mapped[str | None] = mapped_column(String(32))
    # The hearing (APPK art. 73): the preliminary refusal, the window for the guardian's
    # position, and the position itself. `hearing_answered_at` without a position is
    # "no objections"; `hearing_closed_at` is when the school was given the position
    # or told the window passed without one.
    hearing_ground: Mapped[int | None] = mapped_column(SmallInteger)
    hearing_reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    hearing_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hearing_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hearing_position_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    hearing_answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hearing_closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hearing_reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    school_reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


CONSENT_CHOICES = ("agree", "decline", "withdraw")


class ConsentText(Base):
    """The exact consent wording a guardian was shown, one row per distinct text.

    A record's hash alone proves nothing once the catalog has moved on; the text itself
    is what a lawyer reads. `version` names the wording, per language; a text that also
    changes with a setting (the retention period) gets a row of its own under the same
    version, told apart by its SHA-256. Not personal data, so never purged.
    """

    __tablename__ = "consent_texts"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConsentRecord(Base):
    """Evidence of the guardian's answer: which text (version + SHA-256, the text itself in
    `consent_texts`), when, by whom; `withdraw` is the consent taken back (PD law art. 8)."""

    __tablename__ = "consent_records"
    __table_args__ = (
        CheckConstraint(
            "choice IN (" + ", ".join(f"'{c}'" for c in CONSENT_CHOICES) + ")", name="choice"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    choice: Mapped[str] = mapped_column(String(8))
    text_version: Mapped[str] = mapped_column(String(32))
    text_sha256: Mapped[str] = mapped_column(String(64))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    """None for an answer given on the web (the audit trail names the session's case)."""
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Application(Base):
    """The guardian's annex-2 answers (address, note), encrypted; a draft until confirmed.

    Drafts live here rather than in the FSM data so that personal data stay encrypted
    whatever FSM storage is configured, and a restart mid-form loses nothing.
    """

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), unique=True)
    language: Mapped[str] = mapped_column(String(2))
    fields_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Document(Base):
    """A generated PDF (application, receipt, reasoned refusal); encrypted, hash kept for proof."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", name="uq_documents_case_kind"),
        CheckConstraint("kind IN ('application', 'receipt', 'refusal')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2))
    content_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
