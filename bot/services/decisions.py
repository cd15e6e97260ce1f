"""The school's decision: a receipt with a registration number, or a reasoned refusal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.status import WITH_SCHOOL_STATUSES, CaseEvent, CaseStatus, RefusalGround
from bot.delivery.outbox import Kind, OutgoingMessage, enqueue
from bot.documents import ReceiptData, render_receipt
from bot.errors import Conflict, DomainError, NotFound
from bot.runtime import Services
from bot.services.access import guardian_lang
from bot.services.application import clean_text
from bot.services.case_views import CaseView, case_view
from bot.services.lifecycle import apply_event
from bot.services.messages import document_message, text_message
from bot.texts import Lang
from storage.models import Case, Guardian, School
from storage.repositories.cases import lock_case
from storage.repositories.documents import add_document
from storage.repositories.guardians import get_guardian
from storage.repositories.schools import get_school, lock_school

log = logging.getLogger(__name__)

REASON_MIN, REASON_MAX = 5, 1000


@dataclass(frozen=True)
class SchoolActor:
    """Who decides: a school (by API key or staff chat) and a label for the audit trail."""

    school_id: int
    label: str
    staff_name: str | None = None
    """The staff member's name as Telegram gives it; None for the school's own system."""


@dataclass(frozen=True)
class DecisionResult:
    case_id: str
    case_number: str
    status: CaseStatus
    registration_number: str | None
    ground: int | None


def validate_reason(raw: str) -> str:
    reason = clean_text(raw)
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise DomainError("staff.reason_bad", "reason length", min=REASON_MIN, max=REASON_MAX)
    return reason


async def accept(svc: Services, case_id: str, actor: SchoolActor) -> DecisionResult:
    """Accept the documents; the registration number is unique per school and year."""
    for attempt in range(3):
        try:
            return await _accept_once(svc, case_id, actor)
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("registration number raced; retrying", extra={"case_id": case_id})
    raise AssertionError("unreachable")


async def _accept_once(svc: Services, case_id: str, actor: SchoolActor) -> DecisionResult:
    """Reserve the registration number, render the receipt, then record the decision.

    The PDF is rendered between two short transactions, in a worker thread, so neither
    the database nor the event loop waits for it (see `submission.confirm`). The number
    is reserved on the case in the first one, so decisions of one school rendering at
    the same time never draw the same number, and a retry reuses it.
    """
    async with svc.sessions.begin() as session:
        case, school, guardian = await _lock_for_decision(session, case_id, actor)
        now = svc.clock.now()
        if case.registration_number is None:
            case.registration_number = await _next_registration_number(session, school.id, now)
        number = case.registration_number
        lang = guardian_lang(guardian)
        view = case_view(svc.cipher, case, school, lang)
        data = _receipt_data(svc, case, view, lang, number, now, actor.staff_name)
    pdf = await asyncio.to_thread(render_receipt, data)
    async with svc.sessions.begin() as session:
        case, school, guardian = await _lock_for_decision(session, case_id, actor)
        receipt = await add_document(
            session,
            svc.cipher,
            case_id=case.id,
            kind="receipt",
            language=lang.value,
            pdf=pdf,
            now=now,
        )
        apply_event(session, case, CaseEvent.SCHOOL_ACCEPTED, actor=actor.label, now=now)
        case.decided_at = case.closed_at = now
        caption = svc.texts(
            lang,
            "result.accepted",
            school=view.school or "",
            case_number=view.number,
            registration_number=number,
        )
        await _tell_guardian(
            session,
            svc,
            guardian,
            case,
            lambda chat_id: document_message(
                f"result:{case.id}",
                Kind.RESULT,
                chat_id,
                receipt.id,
                f"receipt-{view.number}.pdf",
                caption,
                case_id=case.id,
            ),
        )
        return DecisionResult(case.id, view.number, CaseStatus.ACCEPTED, number, None)


async def refuse(
    svc: Services, case_id: str, actor: SchoolActor, ground: int, raw_reason: str
) -> DecisionResult:
    """Refuse on one of the three legal grounds, with the school's reason in words."""
    if str(ground) not in RefusalGround._value2member_map_:
        raise DomainError(
            "staff.reason_bad", f"ground {ground} is not 1, 2 or 3", min=REASON_MIN, max=REASON_MAX
        )
    reason = validate_reason(raw_reason)
    async with svc.sessions.begin() as session:
        case, school, guardian = await _lock_for_decision(session, case_id, actor)
        now = svc.clock.now()
        lang = guardian_lang(guardian)
        view = case_view(svc.cipher, case, school, lang)
        apply_event(
            session,
            case,
            CaseEvent.SCHOOL_REFUSED,
            actor=actor.label,
            now=now,
            details={"ground": ground},
        )
        case.refusal_ground = ground
        case.registration_number = None  # reserved by an acceptance that did not finish
        case.refusal_reason_enc = svc.cipher.encrypt_text(reason)
        case.decided_at = case.closed_at = now
        text = svc.texts(
            lang,
            "result.refused",
            school=view.school or "",
            case_number=view.number,
            ground=svc.texts(lang, f"ground.{ground}"),
            reason=reason,
        )
        await _tell_guardian(
            session,
            svc,
            guardian,
            case,
            lambda chat_id: text_message(
                f"result:{case.id}", Kind.RESULT, chat_id, text, case_id=case.id
            ),
        )
        return DecisionResult(case.id, view.number, CaseStatus.REFUSED, None, ground)


async def _lock_for_decision(
    session: AsyncSession, case_id: str, actor: SchoolActor
) -> tuple[Case, School, Guardian]:
    """Only the case's own school may decide, and only once.

    Another school's key or chat learns nothing: the case is "not found" for it.
    """
    case = await lock_case(session, case_id)
    if case is None or case.school_id != actor.school_id:
        raise NotFound("case.unknown", f"no case {case_id} for this school")
    if CaseStatus(case.status) not in WITH_SCHOOL_STATUSES:
        raise Conflict("staff.already_decided", f"case is {case.status}")
    school = await get_school(session, actor.school_id)
    guardian = await get_guardian(session, case.guardian_id)
    assert school is not None and guardian is not None
    return case, school, guardian


async def _next_registration_number(session: AsyncSession, school_id: int, now: datetime) -> str:
    """`YYYY/NNNNN`, counting this school's receipts of the year.

    The school row is locked first, so concurrent acceptances at one school take their
    numbers one after another instead of colliding on the unique constraint.
    """
    await lock_school(session, school_id)
    prefix = f"{now.year}/"
    result = await session.execute(
        select(func.max(Case.registration_number)).where(
            Case.school_id == school_id, Case.registration_number.like(f"{prefix}%")
        )
    )
    last = result.scalar_one_or_none()
    sequence = int(last.removeprefix(prefix)) + 1 if last else 1
    return f"{prefix}{sequence:05d}"


def _receipt_data(
    svc: Services,
    case: Case,
    view: CaseView,
    lang: Lang,
    number: str,
    now: datetime,
    staff_name: str | None,
) -> ReceiptData:
    assert case.registered_at is not None
    zone = svc.settings.zone
    return ReceiptData(
        case_number=view.number,
        language=lang.value,
        school_name=view.school or "",
        registration_number=number,
        registered_at=case.registered_at.astimezone(zone),
        accepted_at=now.astimezone(zone),
        accepted_by_staff=staff_name,
        guardian_full_name=view.guardian_name,
        child_full_name=view.child_name,
        conclusion_number=view.conclusion_number,
        conclusion_date=view.conclusion_date,
        conclusion_organization=view.conclusion_organization,
        issued_at=now,
    )


async def _tell_guardian(
    session: AsyncSession,
    svc: Services,
    guardian: Guardian,
    case: Case,
    build: Callable[[int], OutgoingMessage],
) -> None:
    """The result answers the guardian's own application: it goes out at once, day or night."""
    if guardian.chat_id is None:
        log.warning("guardian has no chat for the result", extra={"case_id": case.id})
        return
    await enqueue(session, svc.cipher, svc.clock.now(), build(guardian.chat_id))
