"""Confirming the application: the PDF, registration time, deadline and the school's copy."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.documents import ApplicationData, render_application
from bot.documents.text import annex_address
from bot.domain.status import CaseEvent, CaseStatus
from bot.errors import DomainError
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.access import Actor, guardian_lang, lock_own_case
from bot.usecases.application import Draft, Step, ask_next, load_draft, missing_step
from bot.usecases.case_views import CaseView, case_view
from bot.usecases.forwarding import forward_package
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import document_message
from storage.models import Case, ConsentRecord
from storage.outbox import Kind, enqueue
from storage.repositories.consent import latest_consent
from storage.repositories.documents import add_document
from storage.repositories.schools import get_school

log = logging.getLogger(__name__)


def format_moment(moment: datetime, svc: Services) -> str:
    return moment.astimezone(svc.settings.zone).strftime("%d.%m.%Y %H:%M")


@dataclass(frozen=True)
class _Prepared:
    """What the PDF is rendered from, and what must not change before it is stored."""

    data: ApplicationData
    view: CaseView
    basis: tuple[object, ...]
    now: datetime


async def confirm(svc: Services, actor: Actor, case_id: str) -> Step | None:
    """Submit the application; returns the step to ask instead if something is missing.

    Registration time and the 2-working-day deadline follow the order's schedule: an
    application confirmed at night or on a holiday counts from the next working day.
    The PDF takes a good tenth of a second to render, so it is made between two short
    transactions, in a worker thread: with SQLite the one connection, and in any case
    the event loop, would otherwise wait for it and every other guardian with them.
    """
    prepared = await _prepare(svc, actor, case_id)
    if isinstance(prepared, Step):
        return prepared
    pdf = await asyncio.to_thread(render_application, prepared.data)
    now = prepared.now
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
        application, draft = await load_draft(session, svc, case.id)
        consent = await latest_consent(session, case.id, "agree")
        if _basis(case, draft, consent) != prepared.basis:
            raise DomainError("error.stale_button", "application changed while rendering")
        lang = guardian_lang(guardian)
        school = await get_school(session, case.school_id) if case.school_id else None
        view = prepared.view  # the basis is unchanged, so is what the case says
        document = await add_document(
            session,
            svc.cipher,
            case_id=case.id,
            kind="application",
            language=lang.value,
            pdf=pdf,
            now=now,
        )
        apply_event(session, case, CaseEvent.APPLICATION_CONFIRMED, actor=_who(actor), now=now)
        case.submitted_at = now
        case.registered_at = svc.calendar.registration_time(now)
        case.deadline_at = svc.calendar.deadline(case.registered_at)
        application.confirmed_at = now
        caption = svc.texts(
            lang,
            "form.submitted",
            case_number=view.number,
            school=view.school or "",
            registered=format_moment(case.registered_at, svc),
            deadline=format_moment(case.deadline_at, svc),
        )
        receipt_copy = document_message(
            f"application:{case.id}",
            Kind.REPLY,
            actor.chat_id,
            document.id,
            f"application-{view.number}.pdf",
            caption,
            case_id=case.id,
        )
        await enqueue(session, svc.cipher, now, receipt_copy)
        await forward_package(session, svc, case, document, school)
    log.info("application submitted", extra={"case_id": case_id})
    return None


async def _prepare(svc: Services, actor: Actor, case_id: str) -> _Prepared | Step:
    """Check the application is complete and gather what it says; or ask what is missing."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
        _, draft = await load_draft(session, svc, case.id)
        if missing_step(case, draft) is not Step.SUMMARY:
            return await ask_next(session, svc, case, guardian, actor)
        consent = await latest_consent(session, case.id, "agree")
        lang = guardian_lang(guardian)
        school = await get_school(session, case.school_id) if case.school_id else None
        view = case_view(svc.cipher, case, school, lang)
        if consent is None or view.grade is None:
            raise DomainError("error.stale_button", "no consent or grade")
        now = svc.clock.now()
        data = _application_data(svc, view, draft, lang, consent, now)
        return _Prepared(data, view, _basis(case, draft, consent), now)


def _basis(case: Case, draft: Draft, consent: ConsentRecord | None) -> tuple[object, ...]:
    return (case.school_id, case.grade, draft.to_json(), consent.id if consent else None)


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
