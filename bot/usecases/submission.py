"""Confirming the application: the PDF, registration time, deadline and the school's copy."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.documents import ApplicationData, render_application
from bot.documents.text import annex_address
from bot.domain.choices import Text
from bot.domain.status import CaseEvent, CaseStatus
from bot.domain.timing import local_time
from bot.errors import DomainError
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.access import Actor, guardian_lang, lock_own_case
from bot.usecases.application import Draft, Step, ask_next, load_draft, missing_step
from bot.usecases.case_views import CaseView, case_view
from bot.usecases.forwarding import forward_package
from bot.usecases.lifecycle import apply_event
from bot.usecases.prompts import Attachment, Present, Prompt, show
from storage.models import Application, Case, ConsentRecord, School
from storage.repositories.consent import latest_consent
from storage.repositories.documents import add_document
from storage.repositories.schools import get_school

log = logging.getLogger(__name__)


RENDER_ATTEMPTS = 3
"""Renders of one confirmation before giving up: a draft edited while its PDF renders
is rendered again, and no guardian edits three times within a few milliseconds."""


@dataclass(frozen=True)
class _Staged:
    """What the confirmation would submit, and the rows it was read from (in the
    transaction that read them)."""

    data: ApplicationData
    view: CaseView
    lang: Lang
    case: Case
    application: Application
    school: School | None


async def confirm(
    svc: Services, actor: Actor, case_id: str, *, present: Present | None = None
) -> Prompt:
    """Submit the application: the PDF, the registration, the copies.

    Returns the guardian's copy (the PDF with the registration time and the deadline),
    or the question to answer first when the draft is missing something. Registration
    time and the 2-working-day deadline follow the order's schedule: an application
    confirmed at night or on a holiday counts from the next working day.

    Two short transactions with the PDF rendered between them, in a worker thread, so
    that a burst of confirmations neither holds a connection nor waits for one another's
    PDFs. The second locks the case again and submits only if the case is still
    awaiting confirmation and states exactly what was rendered: a second tap (also on
    another replica) finds the case submitted and is refused as stale, and a draft
    edited in between is rendered again. So the submission stays one atomic change and
    the PDF says what is stored and sent.
    """
    now = svc.clock.now()
    async with svc.sessions.begin() as session:
        staged = await _stage(session, svc, actor, case_id, now, present)
    if isinstance(staged, Prompt):
        return staged
    for _ in range(RENDER_ATTEMPTS):
        pdf = await asyncio.to_thread(render_application, staged.data)
        async with svc.sessions.begin() as session:
            current = await _stage(session, svc, actor, case_id, now, present)
            if isinstance(current, Prompt):
                return current
            if current.data == staged.data:
                copy = await _submit(session, svc, actor, current, pdf, now, present)
                break
        log.info("draft changed while its PDF rendered", extra={"case_id": case_id})
        staged = current
    else:
        raise RuntimeError(f"case {case_id}: the draft kept changing while it was rendered")
    log.info("application submitted", extra={"case_id": case_id})
    return copy


async def _stage(
    session: AsyncSession,
    svc: Services,
    actor: Actor,
    case_id: str,
    now: datetime,
    present: Present | None,
) -> _Staged | Prompt:
    """Lock the case and read what it would submit, or ask what the draft still misses."""
    case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
    application, draft = await load_draft(session, svc.cipher, case.id)
    if missing_step(case, draft) is not Step.SUMMARY:
        return await ask_next(session, svc.cipher, svc.clock, actor, case, guardian, present)
    consent = await latest_consent(session, case.id, "agree")
    lang = guardian_lang(guardian)
    school = await get_school(session, case.school_id) if case.school_id else None
    view = case_view(svc.cipher, case, school, lang)
    if consent is None or view.grade is None:
        raise DomainError("error.stale_button", "no consent or grade")
    data = _application_data(svc, view, draft, lang, consent, now)
    return _Staged(data, view, lang, case, application, school)


async def _submit(
    session: AsyncSession,
    svc: Services,
    actor: Actor,
    staged: _Staged,
    pdf: bytes,
    now: datetime,
    present: Present | None,
) -> Prompt:
    """Store the PDF, move the locked case on, queue the guardian's copy and the package."""
    case, application = staged.case, staged.application
    document = await add_document(
        session, svc.cipher, case_id=case.id, kind="application", language=staged.lang.value,
        pdf=pdf, now=now,
    )  # fmt: skip
    apply_event(session, case, CaseEvent.APPLICATION_CONFIRMED, actor=_who(actor), now=now)
    case.submitted_at = now
    case.registered_at = svc.calendar.registration_time(now)
    case.deadline_at = svc.calendar.deadline(case.registered_at)
    application.confirmed_at = now
    registered, deadline = (
        local_time(m, svc.clock.zone) for m in (case.registered_at, case.deadline_at)
    )
    copy = _copy(staged.view, staged.lang, registered, deadline, document.id)
    await show(session, present, actor, copy)
    await forward_package(session, svc.forwarding, case, document, staged.school)
    return copy


def _copy(view: CaseView, lang: Lang, registered: str, deadline: str, document_id: int) -> Prompt:
    """The guardian's copy of the application, with when it counts as registered."""
    text = Text(
        "form.submitted",
        {
            "case_number": view.number,
            "school": view.school or "",
            "registered": registered,
            "deadline": deadline,
        },
    )
    return Prompt(
        lang=lang,
        purpose="submitted",
        parts=(text,),
        case_id=view.case_id,
        attachment=Attachment(document_id, f"application-{view.number}.pdf"),
    )


def _application_data(
    svc: Services,
    view: CaseView,
    draft: Draft,
    lang: Lang,
    consent: ConsentRecord,
    now: datetime,
) -> ApplicationData:
    assert view.grade is not None
    child_sex = view.child.sex
    if child_sex is None:  # intake accepts only IINs whose 7th digit is a century and sex
        raise ValueError(f"case {view.case_id}: the child's IIN encodes no sex")
    address = annex_address(draft.address or "")
    return ApplicationData(
        case_number=view.number,
        language=lang.value,
        authority_name=view.authority or "",
        guardian_full_name=view.guardian_name,
        child_full_name=view.child_name,
        child_sex=child_sex,
        child_birth_date=view.child_birth_date,
        locality=address.locality,
        district=address.district,
        city=address.city,
        region=address.region,
        grade=view.grade,
        school_name=view.school or "",
        conclusion_number=view.conclusion_number,
        conclusion_date=view.conclusion_date,
        conclusion_organization=view.conclusion_organization,
        note=draft.note or "",
        consent_at=consent.created_at.astimezone(svc.settings.zone),
        created_at=now.astimezone(svc.settings.zone),
        telegram_user_id=consent.telegram_user_id,
        guardian_sex=view.guardian.sex,
    )


def _who(actor: Actor) -> str:
    return f"telegram:{actor.telegram_user_id}"
