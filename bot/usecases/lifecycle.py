"""The single place where a case changes status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseEvent, CaseStatus
from bot.domain.transitions import next_status
from storage.models import Case
from storage.repositories.audit import add_audit_event


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
    current = CaseStatus(case.status)
    new = next_status(current, event)
    case.status = new.value
    case.updated_at = now
    add_audit_event(
        session,
        case_id=case.id,
        at=now,
        actor=actor,
        event=event.value,
        from_status=current.value,
        to_status=new.value,
        details=details,
    )
    return new
