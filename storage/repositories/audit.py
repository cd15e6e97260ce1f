"""The append-only audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent


def audit_row(
    *,
    case_id: str | None,
    at: datetime,
    actor: str,
    event: str,
    from_status: str | None = None,
    to_status: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An audit row as a plain mapping, for bulk inserts (every key always present)."""
    return {
        "case_id": case_id,
        "at": at,
        "actor": actor,
        "event": event,
        "from_status": from_status,
        "to_status": to_status,
        "details": details,
    }


def add_audit_event(
    session: AsyncSession,
    *,
    case_id: str | None,
    at: datetime,
    actor: str,
    event: str,
    from_status: str | None = None,
    to_status: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Queue an audit row in the caller's transaction; `details` must hold no personal data."""
    row = AuditEvent(
        **audit_row(
            case_id=case_id,
            at=at,
            actor=actor,
            event=event,
            from_status=from_status,
            to_status=to_status,
            details=details,
        )
    )
    session.add(row)
    return row


async def list_audit_events(session: AsyncSession, case_id: str) -> Sequence[AuditEvent]:
    result = await session.execute(
        select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)
    )
    return result.scalars().all()
