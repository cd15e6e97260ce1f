"""The school's decision: a receipt with a registration number, or a reasoned refusal."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.documents import ReceiptData, RefusalData, render_receipt, render_refusal
from bot.domain.identifiers import case_number
from bot.domain.numbers import next_registration_number, registration_prefix
from bot.domain.status import (
    DECIDABLE_STATUSES,
    WITH_SCHOOL_STATUSES,
    CaseEvent,
    CaseStatus,
    RefusalGround,
)
from bot.errors import Conflict, DomainError, NotFound
from bot.runtime import Deciding
from bot.texts import Lang
from bot.usecases.access import guardian_lang
from bot.usecases.application import clean_text
from bot.usecases.case_views import CaseView, case_view
from bot.usecases.forwarding import staff_language
from bot.usecases.hearing import require_hearing_closed, start_hearing
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import document_message, text_message, webhook_message
from storage.models import Case, Document, Guardian, School
from storage.outbox import Kind, OutgoingMessage, enqueue
from storage.repositories.cases import get_highest_registration_number, lock_case
from storage.repositories.documents import add_document
from storage.repositories.guardians import get_guardian
from storage.repositories.schools import get_school, list_staff_chats, lock_school

log = logging.getLogger(__name__)

REASON_MIN, REASON_MAX = 5, 1000


@dataclass(frozen=True)
class SchoolActor:
    """Who decides: a school (by API key or staff chat) and a label for the audit trail.

    `name` is the staff member's name as Telegram gives it; None when the school's own
    system decides through the API, and the school itself then signs the decision.
    """

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
    hearing_until: datetime | None = None


def validate_reason(raw: str) -> str:
    reason = clean_text(raw)
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise DomainError("staff.reason_bad", "reason length", min=REASON_MIN, max=REASON_MAX)
    return reason


async def accept(deps: Deciding, case_id: str, actor: SchoolActor) -> DecisionResult:
    """Accept the documents; the registration number is unique per school and year."""
    for attempt in range(3):
        try:
            return await _accept_once(deps, case_id, actor)
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("registration number raced; retrying", extra={"case_id": case_id})
    raise AssertionError("unreachable")


async def _accept_once(deps: Deciding, case_id: str, actor: SchoolActor) -> DecisionResult:
    """Reserve the registration number, render the receipt, then record the decision.

    The PDF is rendered between two short transactions, in a worker thread, so neither
    the database nor the event loop waits for it (see `submission.confirm`). The number
    is reserved on the case in the first one, so decisions of one school rendering at
    the same time never draw the same number, and a retry reuses it.
    """
    async with deps.sessions.begin() as session:
        case, school, guardian = await _lock_for_decision(session, case_id, actor)
        now = deps.clock.now()
        require_hearing_closed(deps.clock.zone, case, now)
        if case.registration_number is None:
            case.registration_number = await _next_registration_number(session, school.id, now)
        number = case.registration_number
        lang = guardian_lang(guardian)
        view = case_view(deps.cipher, case, school, lang)
        data = _receipt_data(deps, case, view, lang, number, now, actor.staff_name)
    pdf = await asyncio.to_thread(render_receipt, data)
    async with _recording(deps, case_id, actor, "receipt", lang.value, pdf, now) as decided:
        session, case, _, guardian, receipt = decided
        apply_event(session, case, CaseEvent.SCHOOL_ACCEPTED, actor=actor.label, now=now)
        case.decided_at = case.closed_at = now
        caption = deps.texts(
            lang,
            "result.accepted",
            school=view.school or "",
            case_number=view.number,
            registration_number=number,
        )
        await _tell_guardian(
            session,
            deps,
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
    deps: Deciding, case_id: str, actor: SchoolActor, ground: int, raw_reason: str
) -> DecisionResult:
    """Refuse on one of the three legal grounds, with the school's reason in words.

    A case still undecided gets a preliminary decision and the hearing (APPK art. 73);
    a case heard gets the final, reasoned refusal as a document, once the guardian
    answered or the window passed.
    """
    if str(ground) not in RefusalGround._value2member_map_:
        raise DomainError(
            "staff.reason_bad", f"ground {ground} is not 1, 2 or 3", min=REASON_MIN, max=REASON_MAX
        )
    reason = validate_reason(raw_reason)
    async with deps.sessions.begin() as session:
        case, school, guardian = await _lock_for_decision(session, case_id, actor)
        if CaseStatus(case.status) in WITH_SCHOOL_STATUSES:
            until = await start_hearing(
                session,
                deps,
                case,
                guardian,
                school,
                actor=actor.label,
                ground=ground,
                reason=reason,
            )
            number = case_number(case.id)
            return DecisionResult(case.id, number, CaseStatus.HEARING, None, ground, until)
        now = deps.clock.now()
        require_hearing_closed(deps.clock.zone, case, now)
        data = _refusal_data(deps, case, school, guardian, actor, ground, reason, now)
    pdf = await asyncio.to_thread(render_refusal, data)
    async with _recording(deps, case_id, actor, "refusal", data.language, pdf, now) as decided:
        session, case, school, guardian, document = decided
        apply_event(
            session,
            case,
            CaseEvent.SCHOOL_REFUSED,
            actor=actor.label,
            now=now,
            details={"ground": ground},
        )
        case.refusal_ground = ground
        case.refusal_reason_enc = deps.cipher.encrypt_text(reason)
        case.decided_at = case.closed_at = now
        lang = Lang(data.language)
        t = deps.texts
        number = data.case_number
        text = t(
            lang,
            "result.refused",
            school=data.school_name,
            case_number=number,
            ground=data.ground_text,
            reason=reason,
        )
        caption = t(lang, "result.refused_caption", case_number=number)
        filename = f"refusal-{number}.pdf"
        await _tell_guardian(
            session,
            deps,
            guardian,
            case,
            lambda chat_id: text_message(
                f"result:{case.id}", Kind.RESULT, chat_id, text, case_id=case.id
            ),
            lambda chat_id: document_message(
                f"result:{case.id}:pdf",
                Kind.RESULT,
                chat_id,
                document.id,
                filename,
                caption,
                case_id=case.id,
            ),
        )
        copies = await _school_copies(session, deps, school, case, document, pdf, ground)
        await enqueue(session, deps.cipher, now, *copies)
        return DecisionResult(case.id, number, CaseStatus.REFUSED, None, ground)


def _refusal_data(
    deps: Deciding,
    case: Case,
    school: School,
    guardian: Guardian,
    actor: SchoolActor,
    ground: int,
    reason: str,
    now: datetime,
) -> RefusalData:
    """What the refusal document states, in the guardian's language and Astana time."""
    assert case.hearing_started_at is not None and case.hearing_until is not None
    lang = guardian_lang(guardian)
    view = case_view(deps.cipher, case, school, lang)
    zone = deps.clock.zone
    position = (
        deps.cipher.decrypt_text(case.hearing_position_enc) if case.hearing_position_enc else None
    )
    return RefusalData(
        case_number=view.number,
        language=lang.value,
        school_name=view.school or "",
        guardian_full_name=view.guardian_name,
        child_full_name=view.child_name,
        ground=ground,
        ground_text=deps.texts(lang, f"ground.{ground}"),
        reason=reason,
        hearing_started_at=case.hearing_started_at.astimezone(zone),
        hearing_until=case.hearing_until.astimezone(zone),
        answered=case.hearing_answered_at is not None,
        position=position,
        decided_at=now.astimezone(zone),
        decided_by=actor.staff_name or view.school or "",
    )


async def _school_copies(
    session: AsyncSession,
    deps: Deciding,
    school: School,
    case: Case,
    document: Document,
    pdf: bytes,
    ground: int,
) -> list[OutgoingMessage]:
    """The school's copy of the refusal: to each staff chat, and to its webhook as the
    `refusal_document` event (an extension of DESIGN 4.5)."""
    lang = staff_language(school)
    number = case_number(case.id)
    caption = deps.texts(lang, "staff.refusal_copy_caption", case_number=number)
    filename = f"refusal-{number}.pdf"
    copies = [
        document_message(
            f"refusal_copy:{case.id}:{chat.chat_id}",
            Kind.SCHOOL_COPY,
            chat.chat_id,
            document.id,
            filename,
            caption,
            case_id=case.id,
        )
        for chat in await list_staff_chats(session, school.id)
    ]
    if school.webhook_url:
        body = {
            "event": "refusal_document",
            "case_id": case.id,
            "case_number": number,
            "school_bin": school.bin,
            "ground": ground,
            "decided_at": document.created_at.isoformat(),
            "refusal_pdf": {
                "filename": filename,
                "sha256": document.sha256,
                "content_base64": base64.b64encode(pdf).decode(),
            },
        }
        copies.append(
            webhook_message(
                f"refusal_copy:{case.id}:webhook",
                Kind.SCHOOL_COPY,
                school.id,
                school.webhook_url,
                body,
                case_id=case.id,
            )
        )
    return copies


@asynccontextmanager
async def _recording(
    deps: Deciding,
    case_id: str,
    actor: SchoolActor,
    kind: str,
    language: str,
    pdf: bytes,
    now: datetime,
) -> AsyncIterator[tuple[AsyncSession, Case, School, Guardian, Document]]:
    """The decision's second transaction: lock the case again (it may have been decided
    while the PDF rendered), keep the document, and let the caller record the rest."""
    async with deps.sessions.begin() as session:
        case, school, guardian = await _lock_for_decision(session, case_id, actor)
        document = await add_document(
            session, deps.cipher, case_id=case.id, kind=kind, language=language, pdf=pdf, now=now
        )
        yield session, case, school, guardian, document


async def _lock_for_decision(
    session: AsyncSession, case_id: str, actor: SchoolActor
) -> tuple[Case, School, Guardian]:
    """Only the case's own school may decide, and only once.

    Another school's key or chat learns nothing: the case is "not found" for it.
    """
    case = await lock_case(session, case_id)
    if case is None or case.school_id != actor.school_id:
        raise NotFound("case.unknown", f"no case {case_id} for this school")
    if CaseStatus(case.status) not in DECIDABLE_STATUSES:
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
    highest = await get_highest_registration_number(
        session, school_id, registration_prefix(now.year)
    )
    return next_registration_number(now.year, highest)


def _receipt_data(
    deps: Deciding,
    case: Case,
    view: CaseView,
    lang: Lang,
    number: str,
    now: datetime,
    staff_name: str | None,
) -> ReceiptData:
    assert case.registered_at is not None
    zone = deps.clock.zone
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
    deps: Deciding,
    guardian: Guardian,
    case: Case,
    *builds: Callable[[int], OutgoingMessage],
) -> None:
    """The result answers the guardian's own application: it goes out at once, day or night."""
    if guardian.chat_id is None:
        log.warning("guardian has no chat for the result", extra={"case_id": case.id})
        return
    now = deps.clock.now()
    await enqueue(session, deps.cipher, now, *(build(guardian.chat_id) for build in builds))
