"""The package for the school: to its staff chats and/or its signed webhook (DESIGN 4.5).

A school without any inbox cannot answer in time, so its cases go to the local
authority's escalation chat at once (and show in `stats`).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.choices import Act, Choice, Choices
from bot.domain.identifiers import case_number
from bot.domain.status import CaseEvent
from bot.domain.timing import local_time
from bot.runtime import Forwarding
from bot.texts import Lang, Texts
from bot.usecases.case_views import CaseView, case_view, validity_text
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import document_message, text_message, webhook_message
from storage.models import Case, ConsentRecord, Document, School
from storage.outbox import Kind, OutgoingMessage, enqueue
from storage.repositories.applications import require_application
from storage.repositories.audit import add_audit_event
from storage.repositories.consent import get_consent_text, latest_consent
from storage.repositories.schools import list_staff_chats
from storage.repositories.web_accounts import school_has_web_staff

log = logging.getLogger(__name__)


def staff_language(school: School) -> Lang:
    """Kazakh unless the registry knows the school only by its Russian name."""
    return Lang.RU if school.name_ru and not school.name_kk else Lang.KK


@dataclass(frozen=True)
class Package:
    """Everything the school receives about one case."""

    view: CaseView
    address: str
    note: str
    consent: ConsentRecord
    consent_text: str | None  # None only for a record made before texts were stored
    consent_language: str | None
    registered_at: datetime
    deadline_at: datetime
    pdf: bytes
    document: Document


async def forward_package(
    session: AsyncSession,
    forwarding: Forwarding,
    case: Case,
    document: Document,
    school: School | None,
) -> None:
    """Queue the package to every inbox of the case's school, or escalate if it has none."""
    if school is None:
        raise ValueError(f"case {case.id} has no school at submission")
    lang = staff_language(school)
    package = await load_package(session, forwarding, case, document, school, lang)
    messages: list[OutgoingMessage] = []
    for chat in await list_staff_chats(session, school.id):
        messages.extend(_chat_messages(forwarding, package, chat.chat_id, lang))
    if school.webhook_url:
        messages.append(_webhook_message(package, school))
    if await school_has_web_staff(session, school.id):
        _shown_in_web_inbox(session, forwarding, case)
    elif not messages:
        messages.extend(_no_inbox_escalation(forwarding, package, school, lang))
        add_audit_event(
            session,
            case_id=case.id,
            at=forwarding.clock.now(),
            actor="system",
            event="no_school_inbox",
        )
        log.warning("school has no inbox; escalated", extra={"case_id": case.id})
    await enqueue(session, forwarding.cipher, forwarding.clock.now(), *messages)


def _shown_in_web_inbox(session: AsyncSession, forwarding: Forwarding, case: Case) -> None:
    """The web inbox shows the package as soon as it is committed: it has reached the
    school, as a chat's or webhook's first delivery would say."""
    now = forwarding.clock.now()
    apply_event(
        session,
        case,
        CaseEvent.DELIVERED_TO_SCHOOL,
        actor="system",
        now=now,
        details={"channel": "web"},
    )
    case.forwarded_at = now


async def load_package(
    session: AsyncSession,
    forwarding: Forwarding,
    case: Case,
    document: Document,
    school: School,
    lang: Lang,
) -> Package:
    """What the school is given about a case: the chat's package and the web case page."""
    application = await require_application(session, case.id)
    fields = (
        forwarding.cipher.decrypt_json(application.fields_enc) if application.fields_enc else {}
    )
    consent = await latest_consent(session, case.id, "agree")
    assert consent is not None, "a submitted case has its consent"
    shown = await get_consent_text(session, consent.text_sha256)
    assert case.registered_at is not None and case.deadline_at is not None
    assert document.content_enc is not None
    return Package(
        view=case_view(forwarding.cipher, case, school, lang),
        address=fields.get("address") or "",
        note=fields.get("note") or "",
        consent=consent,
        consent_text=shown.text if shown else None,
        consent_language=shown.language if shown else None,
        registered_at=case.registered_at,
        deadline_at=case.deadline_at,
        pdf=forwarding.cipher.decrypt_bytes(document.content_enc),
        document=document,
    )


def package_summary(forwarding: Forwarding, p: Package, lang: Lang) -> str:
    """The package in words (safe HTML), as the staff chat and the web case page show it."""
    t, view = forwarding.texts, p.view
    empty = t(lang, "form.empty")
    return t(
        lang,
        "staff.package",
        case_number=view.number,
        child_name=view.child_name,
        child_iin=view.child_iin,
        birth_date=view.child_birth_date.strftime("%d.%m.%Y"),
        guardian_name=view.guardian_name,
        grade=view.grade if view.grade is not None else empty,
        address=p.address or empty,
        note=p.note or empty,
        conclusion_number=view.conclusion_number,
        conclusion_date=view.conclusion_date.strftime("%d.%m.%Y"),
        organization=view.conclusion_organization,
        summary=view.conclusion_summary[:1500] or empty,
        validity=validity_text(t, lang, view),
        consent_at=local_time(p.consent.created_at, forwarding.zone),
        registered=local_time(p.registered_at, forwarding.zone),
        deadline=local_time(p.deadline_at, forwarding.zone),
    )


def _chat_messages(
    forwarding: Forwarding, p: Package, chat_id: int, lang: Lang
) -> list[OutgoingMessage]:
    t, view = forwarding.texts, p.view
    summary = package_summary(forwarding, p, lang)
    choices = decision_choices(t, lang, view.case_id)
    key = f"package:{view.case_id}:{chat_id}"
    return [
        text_message(f"{key}:summary", Kind.SCHOOL_PACKAGE, chat_id, summary, case_id=view.case_id),
        document_message(
            f"{key}:pdf",
            Kind.SCHOOL_PACKAGE,
            chat_id,
            p.document.id,
            f"application-{view.number}.pdf",
            t(lang, "staff.package_caption", case_number=view.number),
            case_id=view.case_id,
            choices=choices,
        ),
    ]


def webhook_body(p: Package, school: School) -> dict[str, Any]:
    """The JSON of DESIGN 4.5: what a school's own system needs to register the case."""
    view = p.view
    return {
        "event": "package",
        "case_id": view.case_id,
        "case_number": view.number,
        "school_bin": school.bin,
        "registered_at": p.registered_at.isoformat(),
        "deadline_at": p.deadline_at.isoformat(),
        "application": {
            "guardian_full_name": view.guardian_name,
            "child_full_name": view.child_name,
            "child_iin": view.child_iin,
            "child_birth_date": view.child_birth_date.isoformat(),
            "grade": view.grade,
            "address": p.address,
            "note": p.note,
            "language": p.document.language,
        },
        "conclusion": {
            "number": view.conclusion_number,
            "date": view.conclusion_date.isoformat(),
            "organization": view.conclusion_organization,
            "summary": view.conclusion_summary,
            "valid_until": (
                view.conclusion_valid_until.isoformat() if view.conclusion_valid_until else None
            ),
        },
        "consent": {
            "text_version": p.consent.text_version,
            "text_sha256": p.consent.text_sha256,
            "text": p.consent_text,
            "given_at": p.consent.created_at.isoformat(),
            "telegram_user_id": p.consent.telegram_user_id,
        },
        "application_pdf": {
            "filename": f"application-{view.number}.pdf",
            "sha256": p.document.sha256,
            "content_base64": base64.b64encode(p.pdf).decode(),
        },
        "decision_url": f"/api/v1/cases/{view.case_id}/decision",
    }


def _webhook_message(p: Package, school: School) -> OutgoingMessage:
    assert school.webhook_url is not None
    return webhook_message(
        f"package:{p.view.case_id}:webhook",
        Kind.SCHOOL_PACKAGE,
        school.id,
        school.webhook_url,
        webhook_body(p, school),
        case_id=p.view.case_id,
    )


async def tell_school_consent_withdrawn(
    session: AsyncSession, forwarding: Forwarding, case: Case, school: School | None, now: datetime
) -> None:
    """Every inbox that got the package hears that consent was taken back.

    Chats get a message; a webhook gets the event `consent_withdrawn` (an extension of
    DESIGN 4.5, signed like the package); a school that had no inbox was reached through
    the authority's chat, which is told instead.
    """
    if school is None:
        return
    lang = staff_language(school)
    number = case_number(case.id)
    text = forwarding.texts(
        lang,
        "staff.consent_withdrawn",
        case_number=number,
        withdrawn_at=local_time(now, forwarding.zone),
        ground=forwarding.texts(lang, "ground.3"),
    )
    chats = [chat.chat_id for chat in await list_staff_chats(session, school.id)]
    if not chats and not school.webhook_url and school.escalation_chat_id is not None:
        chats = [school.escalation_chat_id]
    messages = [
        text_message(
            f"withdrawn:{case.id}:{chat_id}", Kind.SCHOOL_NOTICE, chat_id, text, case_id=case.id
        )
        for chat_id in chats
    ]
    if school.webhook_url:
        body = {
            "event": "consent_withdrawn",
            "case_id": case.id,
            "case_number": number,
            "school_bin": school.bin,
            "withdrawn_at": now.isoformat(),
        }
        messages.append(
            webhook_message(
                f"withdrawn:{case.id}:webhook",
                Kind.SCHOOL_NOTICE,
                school.id,
                school.webhook_url,
                body,
                case_id=case.id,
            )
        )
    await enqueue(session, forwarding.cipher, now, *messages)


def _no_inbox_escalation(
    forwarding: Forwarding, p: Package, school: School, lang: Lang
) -> list[OutgoingMessage]:
    if school.escalation_chat_id is None:
        return []
    text = forwarding.texts(
        lang,
        "escalation.no_inbox",
        case_number=p.view.number,
        school_bin=school.bin,
        deadline=local_time(p.deadline_at, forwarding.zone),
    )
    return [
        text_message(
            f"escalation:no_inbox:{p.view.case_id}",
            Kind.ESCALATION,
            school.escalation_chat_id,
            text,
            case_id=p.view.case_id,
        )
    ]


def decision_choices(texts: Texts, lang: Lang, case_id: str) -> Choices:
    """Accept / Refuse, offered to the school's staff wherever a decision is due."""
    return (
        (
            Choice(Act.ACCEPT, texts(lang, "staff.accept_button"), case_id),
            Choice(Act.REFUSE, texts(lang, "staff.refuse_button"), case_id),
        ),
    )
