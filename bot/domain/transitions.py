"""Which event may move a case from which status: the one table of lifecycle rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bot.domain.status import CaseEvent, CaseStatus

S = CaseStatus
E = CaseEvent

_BEFORE_DECISION: Final = (
    S.RECEIVED,
    S.AWAITING_LINK,
    S.NOTIFIED,
    S.CONSENTED,
    S.DECLINED,
    S.SUBMITTED,
    S.FORWARDED,
    S.OVERDUE,
    S.HEARING,
)

ALLOWED: Final[Mapping[tuple[CaseStatus, CaseEvent], CaseStatus]] = {
    (S.RECEIVED, E.NOTICE_SENT): S.NOTIFIED,
    (S.RECEIVED, E.GUARDIAN_UNLINKED): S.AWAITING_LINK,
    (S.AWAITING_LINK, E.GUARDIAN_LINKED): S.NOTIFIED,
    (S.AWAITING_LINK, E.NOTICE_SENT): S.NOTIFIED,
    (S.AWAITING_LINK, E.NO_ANSWER): S.EXPIRED,
    (S.NOTIFIED, E.CONSENT_GIVEN): S.CONSENTED,
    (S.NOTIFIED, E.CONSENT_DECLINED): S.DECLINED,
    (S.NOTIFIED, E.NO_ANSWER): S.EXPIRED,
    # A parent who declined by mistake may come back while the case is open.
    (S.DECLINED, E.CONSENT_GIVEN): S.CONSENTED,
    (S.DECLINED, E.NO_ANSWER): S.EXPIRED,
    (S.CONSENTED, E.CONSENT_DECLINED): S.DECLINED,
    (S.CONSENTED, E.APPLICATION_CONFIRMED): S.SUBMITTED,
    (S.CONSENTED, E.NO_ANSWER): S.EXPIRED,
    (S.SUBMITTED, E.DELIVERED_TO_SCHOOL): S.FORWARDED,
    (S.SUBMITTED, E.DEADLINE_PASSED): S.OVERDUE,
    (S.SUBMITTED, E.SCHOOL_ACCEPTED): S.ACCEPTED,
    (S.SUBMITTED, E.PRELIMINARY_REFUSAL): S.HEARING,
    (S.FORWARDED, E.SCHOOL_ACCEPTED): S.ACCEPTED,
    (S.FORWARDED, E.PRELIMINARY_REFUSAL): S.HEARING,
    (S.FORWARDED, E.DEADLINE_PASSED): S.OVERDUE,
    (S.OVERDUE, E.SCHOOL_ACCEPTED): S.ACCEPTED,
    (S.OVERDUE, E.PRELIMINARY_REFUSAL): S.HEARING,
    # APPK art. 73: a refusal is final only after the guardian could state a position.
    # The position, or the window passing without one, keeps the case in `hearing`
    # (recorded in the audit trail); the school then decides either way.
    (S.HEARING, E.POSITION_STATED): S.HEARING,
    (S.HEARING, E.HEARING_LAPSED): S.HEARING,
    (S.HEARING, E.SCHOOL_ACCEPTED): S.ACCEPTED,
    (S.HEARING, E.SCHOOL_REFUSED): S.REFUSED,
    **{(status, E.REVOKED): S.CANCELLED for status in _BEFORE_DECISION},
}


class TransitionNotAllowed(Exception):
    """The event does not apply to a case in its current status."""

    def __init__(self, current: CaseStatus, event: CaseEvent) -> None:
        super().__init__(f"{event.value} is not allowed in status {current.value}")
        self.current = current
        self.event = event


def next_status(current: CaseStatus, event: CaseEvent) -> CaseStatus:
    """Return the status after `event`, or raise TransitionNotAllowed."""
    try:
        return ALLOWED[(current, event)]
    except KeyError:
        raise TransitionNotAllowed(current, event) from None
