"""Case statuses and the events that move a case between them (DESIGN 5)."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    RECEIVED = "received"
    AWAITING_LINK = "awaiting_link"
    NOTIFIED = "notified"
    CONSENTED = "consented"
    DECLINED = "declined"
    SUBMITTED = "submitted"
    FORWARDED = "forwarded"
    OVERDUE = "overdue"
    HEARING = "hearing"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class CaseEvent(StrEnum):
    GUARDIAN_UNLINKED = "guardian_unlinked"
    NOTICE_SENT = "notice_sent"
    GUARDIAN_LINKED = "guardian_linked"
    CONSENT_GIVEN = "consent_given"
    CONSENT_DECLINED = "consent_declined"
    APPLICATION_CONFIRMED = "application_confirmed"
    DELIVERED_TO_SCHOOL = "delivered_to_school"
    DEADLINE_PASSED = "deadline_passed"
    SCHOOL_ACCEPTED = "school_accepted"
    SCHOOL_REFUSED = "school_refused"
    PRELIMINARY_REFUSAL = "preliminary_refusal"
    POSITION_STATED = "position_stated"
    HEARING_LAPSED = "hearing_lapsed"
    NO_ANSWER = "no_answer"
    REVOKED = "revoked"


class RefusalGround(StrEnum):
    """Annex 1, item 9 of the order: the only three grounds a school may name."""

    UNRELIABLE_DATA = "1"
    NON_COMPLIANCE = "2"
    NO_CONSENT = "3"


FINAL_STATUSES: frozenset[CaseStatus] = frozenset(
    {CaseStatus.ACCEPTED, CaseStatus.REFUSED, CaseStatus.EXPIRED, CaseStatus.CANCELLED}
)
DECIDED_STATUSES: frozenset[CaseStatus] = frozenset({CaseStatus.ACCEPTED, CaseStatus.REFUSED})
WITH_SCHOOL_STATUSES: frozenset[CaseStatus] = frozenset(
    {CaseStatus.SUBMITTED, CaseStatus.FORWARDED, CaseStatus.OVERDUE}
)
"""The school has the package and has not decided yet: a first decision is due."""
DECIDABLE_STATUSES: frozenset[CaseStatus] = WITH_SCHOOL_STATUSES | {CaseStatus.HEARING}
"""A school's decision may act on these: a first one, or the final one after a hearing."""
