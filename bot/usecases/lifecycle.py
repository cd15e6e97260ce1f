"""The single place where a case changes status.

`apply_event` moves a loaded case; `transition` is the same step for a case that exists
only as a row about to be bulk-inserted (intake opens many cases in one statement).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseEvent, CaseStatus
from bot.domain.transitions import next_status
from storage.models import Case
from storage.repositories.audit import add_audit_event, audit_row


def apply_event(
    session: AsyncSession,
    case: Case,
    event: CaseEvent,
    *,
    actor: str,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> CaseStatus:
    """Move `case` by `event` and record it in the audit trail, in the caller's transaction.

    Raises TransitionNotAllowed without touching anything when the event does not apply.
    """
    new, audit = transition(
        CaseStatus(case.status), event, case_id=case.id, actor=actor, now=now, details=details
    )
    case.status = new.value
    case.updated_at = now
    add_audit_event(session, **audit)
    return new


def transition(
    current: CaseStatus,
    event: CaseEvent,
    *,
    case_id: str,
    actor: str,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> tuple[CaseStatus, dict[str, Any]]:
    """The status after `event` and the audit row that records the move.

    Raises TransitionNotAllowed when the event does not apply.
    """
    new = next_status(current, event)
    audit = audit_row(
        case_id=case_id,
        at=now,
        actor=actor,
        event=event.value,
        from_status=current.value,
        to_status=new.value,
        details=details,
    )
    return new, audit
