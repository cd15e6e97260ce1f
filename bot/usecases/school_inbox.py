"""The school's web inbox: the open cases, one case's package, and the decisions.

Decisions go through `bot.usecases.decisions`, the use cases of the staff chat and the
school API, so the audit trail, the documents and what the guardian is told are the
same whichever inbox the school used. A staff member sees only their own school's
cases; an authority account sees only the overdue ones of its schools, and decides none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.identifiers import case_number
from bot.domain.status import DECIDABLE_STATUSES, CaseStatus
from bot.errors import DomainError, NotFound
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases import decisions
from bot.usecases.case_views import school_name
from bot.usecases.decisions import DecisionResult, SchoolActor
from bot.usecases.forwarding import load_package, package_summary
from bot.usecases.hearing import heard_text, hearing_closed
from bot.usecases.staff_accounts import StaffMember
from storage.models import Case, School
from storage.repositories.cases import get_case
from storage.repositories.documents import get_case_document
from storage.repositories.inbox import list_school_cases, list_schools_of_authority
from storage.repositories.schools import get_school

OVERDUE_STATUSES = (CaseStatus.OVERDUE.value,)


@dataclass(frozen=True)
class InboxRow:
    case_id: str
    number: str
    child_name: str
    school: str
    status: CaseStatus
    deadline_at: datetime | None
    time_left: timedelta
    overdue: bool
    hearing_until: datetime | None


@dataclass(frozen=True)
class CasePage:
    """What the case page shows; `summary` and `heard` are safe HTML from the catalog."""

    case_id: str
    number: str
    status: CaseStatus
    summary: str
    consent_text: str | None
    consent_language: str | None
    consent_at: datetime
    hearing_started_at: datetime | None
    hearing_until: datetime | None
    hearing_ground: int | None
    hearing_reason: str | None
    heard: str | None
    may_decide: bool
    registration_number: str | None
    refusal_ground: int | None


async def _scope(session: AsyncSession, member: StaffMember) -> dict[int, School | None]:
    """The schools whose cases the member may see (a staff member's own is not loaded:
    its name is the member's)."""
    if not member.read_only:
        return {member.school_id: None}
    school = await get_school(session, member.school_id)
    if school is None:
        return {}
    return {s.id: s for s in await list_schools_of_authority(session, school)}


def _statuses(member: StaffMember) -> tuple[str, ...]:
    if member.read_only:
        return OVERDUE_STATUSES
    return tuple(status.value for status in DECIDABLE_STATUSES)


async def list_inbox(svc: Services, member: StaffMember, lang: Lang) -> list[InboxRow]:
    """Open cases (an authority: overdue ones) by deadline, with the working time left."""
    now = svc.clock.now()
    async with svc.sessions() as session:
        schools = await _scope(session, member)
        cases = await list_school_cases(session, schools.keys(), _statuses(member))
    rows = []
    for case in cases:
        if case.pd_enc is None or case.school_id is None:
            continue
        pd = svc.cipher.decrypt_json(case.pd_enc)
        left = (
            svc.calendar.working_time_between(now, case.deadline_at)
            if case.deadline_at
            else timedelta(0)
        )
        status = CaseStatus(case.status)
        past = case.deadline_at is not None and now >= case.deadline_at
        late = status is CaseStatus.OVERDUE or past
        rows.append(
            InboxRow(
                case_id=case.id,
                number=case_number(case.id),
                child_name=pd["child"]["full_name"],
                school=school_name(schools[case.school_id], lang) or member.school(lang),
                status=status,
                deadline_at=case.deadline_at,
                time_left=left,
                overdue=late and status is not CaseStatus.HEARING,
                hearing_until=case.hearing_until if status is CaseStatus.HEARING else None,
            )
        )
    return rows


async def _visible_case(session: AsyncSession, member: StaffMember, case_id: str) -> Case:
    """The case if the member may see it; anything else is "not found", never "not yours"."""
    case = await get_case(session, case_id)
    schools = await _scope(session, member)
    if case is None or case.school_id not in schools or case.pd_enc is None:
        raise NotFound("web.case_unknown", f"no case {case_id} for staff {member.id}")
    if member.read_only and case.status not in OVERDUE_STATUSES:
        raise NotFound("web.case_unknown", f"case {case_id} is not overdue")
    if case.submitted_at is None:
        raise NotFound("web.case_unknown", f"case {case_id} was never sent to the school")
    return case


async def case_page(svc: Services, member: StaffMember, case_id: str, lang: Lang) -> CasePage:
    """The package as the staff chat got it, the consent wording and the hearing."""
    async with svc.sessions() as session:
        case = await _visible_case(session, member, case_id)
        school = await get_school(session, case.school_id or 0)
        document = await get_case_document(session, case.id, "application")
        if school is None or document is None:
            raise NotFound("web.case_unknown", f"case {case_id} has no package")
        package = await load_package(session, svc.forwarding, case, document, school, lang)
    status = CaseStatus(case.status)
    now = svc.clock.now()
    open_to_decide = status in DECIDABLE_STATUSES and (
        status is not CaseStatus.HEARING or hearing_closed(case, now)
    )
    return CasePage(
        case_id=case.id,
        number=package.view.number,
        status=status,
        summary=package_summary(svc.forwarding, package, lang),
        consent_text=package.consent_text,
        consent_language=package.consent_language,
        consent_at=package.consent.created_at,
        **_hearing(svc, case, lang),
        may_decide=open_to_decide and not member.read_only,
        registration_number=case.registration_number if status is CaseStatus.ACCEPTED else None,
        refusal_ground=case.refusal_ground if status is CaseStatus.REFUSED else None,
    )


def _hearing(svc: Services, case: Case, lang: Lang) -> dict[str, Any]:
    """The preliminary refusal and what came of it, while the case is in the hearing."""
    if case.status != CaseStatus.HEARING.value:
        return dict.fromkeys(
            ("hearing_started_at", "hearing_until", "hearing_ground", "hearing_reason", "heard")
        )
    reason = case.hearing_reason_enc
    return {
        "hearing_started_at": case.hearing_started_at,
        "hearing_until": case.hearing_until,
        "hearing_ground": case.hearing_ground,
        "hearing_reason": svc.cipher.decrypt_text(reason) if reason else None,
        "heard": heard_text(svc.cipher, svc.texts, svc.clock.zone, case, lang),
    }


async def application_pdf(svc: Services, member: StaffMember, case_id: str) -> tuple[str, bytes]:
    """The application PDF of a visible case: (file name, bytes)."""
    async with svc.sessions() as session:
        case = await _visible_case(session, member, case_id)
        document = await get_case_document(session, case.id, "application")
    if document is None or document.content_enc is None:
        raise NotFound("web.case_unknown", f"case {case_id} has no application PDF")
    name = f"application-{case_number(case.id)}.pdf"
    return name, svc.cipher.decrypt_bytes(document.content_enc)


def _actor(member: StaffMember) -> SchoolActor:
    if member.read_only:
        raise DomainError("web.read_only", f"staff {member.id} may only read")
    return SchoolActor(school_id=member.school_id, label=member.label, staff_name=member.name)


async def accept(svc: Services, member: StaffMember, case_id: str) -> DecisionResult:
    """Accept, exactly as the chat's button and the API do."""
    return await decisions.accept(svc.deciding, case_id, _actor(member))


async def refuse(
    svc: Services, member: StaffMember, case_id: str, ground: int, reason: str
) -> DecisionResult:
    """Refuse: the first time a preliminary decision and the hearing, then the final one."""
    return await decisions.refuse(svc.deciding, case_id, _actor(member), ground, reason)
