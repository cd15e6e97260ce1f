"""The application (annex 2): prefilled draft, the few questions, summary and edits."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.documents.application import addressee
from bot.domain.status import CaseStatus
from bot.errors import DomainError
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.access import Actor, guardian_lang, lock_own_case
from bot.usecases.case_views import case_view, school_name, validity_text
from bot.usecases.messages import REMOVE_KEYBOARD, Button, text_message
from handlers.telegram.callbacks import CaseAction, CaseCb, GradeCb, SchoolCb
from storage.models import Application, Case, Guardian
from storage.outbox import Kind, enqueue
from storage.repositories.schools import find_schools, get_school

ADDRESS_MIN, ADDRESS_MAX = 10, 300
# The service is for primary, basic and general secondary education: grades 1 to 11.
GRADES = range(1, 12)
GRADES_PER_ROW = 4
NOTE_MAX = 500
SCHOOL_QUERY_MAX = 100
MAX_SCHOOL_RESULTS = 8
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Step(StrEnum):
    """What the guardian is asked now; the handler mirrors it in the FSM state."""

    SCHOOL = "school"
    GRADE = "grade"
    ADDRESS = "address"
    NOTE = "note"
    SUMMARY = "summary"


@dataclass
class Draft:
    """The guardian's own answers, and the question the bot asked last."""

    address: str | None = None
    note: str | None = None
    asked: Step | None = None

    def to_json(self) -> dict[str, Any]:
        asked = self.asked.value if self.asked else None
        return {"address": self.address, "note": self.note, "asked": asked}


def missing_step(case: Case, draft: Draft) -> Step:
    """The first required field still empty; the note is optional and never asked first."""
    if case.school_id is None:
        return Step.SCHOOL
    if case.grade not in GRADES:
        return Step.GRADE
    if draft.address is None:
        return Step.ADDRESS
    return Step.SUMMARY


def clean_text(raw: str) -> str:
    """Normalise a typed answer: NFC, no control characters, single spaces."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", raw))
    return " ".join(text.split())


def validate_address(raw: str) -> str:
    address = clean_text(raw)
    if not ADDRESS_MIN <= len(address) <= ADDRESS_MAX or not any(c.isalpha() for c in address):
        raise DomainError(
            "form.address_bad", "address length or content", min=ADDRESS_MIN, max=ADDRESS_MAX
        )
    return address


def validate_note(raw: str) -> str:
    note = clean_text(raw)
    if len(note) > NOTE_MAX:
        raise DomainError("form.note_bad", "note too long", max=NOTE_MAX)
    return note


async def load_draft(
    session: AsyncSession, svc: Services, case_id: str
) -> tuple[Application, Draft]:
    result = await session.execute(select(Application).where(Application.case_id == case_id))
    application = result.scalars().first()
    if application is None:
        raise DomainError("error.stale_button", f"case {case_id} has no draft")
    data = svc.cipher.decrypt_json(application.fields_enc) if application.fields_enc else {}
    asked = Step(data["asked"]) if data.get("asked") in Step._value2member_map_ else None
    return application, Draft(address=data.get("address"), note=data.get("note"), asked=asked)


def save_draft(svc: Services, application: Application, draft: Draft) -> None:
    application.fields_enc = svc.cipher.encrypt_json(draft.to_json())
    application.updated_at = svc.clock.now()


async def start_draft(session: AsyncSession, svc: Services, case: Case, guardian: Guardian) -> None:
    """Create the draft once, prefilling the address from this guardian's last application."""
    existing = await session.execute(select(Application).where(Application.case_id == case.id))
    if existing.scalars().first() is not None:
        return
    draft = Draft(address=await _last_address(session, svc, guardian.id))
    application = Application(
        case_id=case.id,
        language=guardian_lang(guardian).value,
        created_at=svc.clock.now(),
        updated_at=svc.clock.now(),
    )
    save_draft(svc, application, draft)
    session.add(application)
    await session.flush()


async def _last_address(session: AsyncSession, svc: Services, guardian_id: int) -> str | None:
    """A second child usually lives at the same address: offer it, editable in the summary."""
    result = await session.execute(
        select(Application.fields_enc)
        .join(Case, Case.id == Application.case_id)
        .where(Case.guardian_id == guardian_id, Application.confirmed_at.is_not(None))
        .order_by(Application.confirmed_at.desc())
        .limit(1)
    )
    blob = result.scalar_one_or_none()
    return svc.cipher.decrypt_json(blob).get("address") if blob else None


async def ask_next(
    session: AsyncSession, svc: Services, case: Case, guardian: Guardian, actor: Actor
) -> Step:
    """Queue the question for the first missing field, or the summary when complete."""
    application, draft = await load_draft(session, svc, case.id)
    step = missing_step(case, draft)
    return await ask(session, svc, case, guardian, actor, step, application, draft)


async def ask(
    session: AsyncSession,
    svc: Services,
    case: Case,
    guardian: Guardian,
    actor: Actor,
    step: Step,
    application: Application,
    draft: Draft,
) -> Step:
    """Queue the question for `step` and record it as asked, in the same transaction."""
    lang = guardian_lang(guardian)
    t = svc.texts
    buttons: list[list[Button]] = []
    if step is Step.SUMMARY:
        text, buttons = await _summary(session, svc, case, draft, lang)
    elif step is Step.GRADE:
        text = t(lang, "form.ask_grade")
        buttons = [
            [
                (t(lang, "form.grade_button", grade=g), GradeCb(case_id=case.id, grade=g))
                for g in row
            ]
            for row in (
                GRADES[i : i + GRADES_PER_ROW] for i in range(0, len(GRADES), GRADES_PER_ROW)
            )
        ]
    elif step is Step.NOTE:
        text = t(lang, "form.ask_note", max=NOTE_MAX)
        skip = CaseCb(case_id=case.id, action=CaseAction.SKIP_NOTE)
        buttons = [[(t(lang, "form.note_skip_button"), skip)]]
    else:
        text = t(lang, "form.ask_school" if step is Step.SCHOOL else "form.ask_address")
    message = text_message(
        f"{actor.origin}:ask:{step.value}",
        Kind.REPLY,
        actor.chat_id,
        text,
        case_id=case.id,
        buttons=buttons,
        reply_markup=REMOVE_KEYBOARD,  # for a typed answer: the phone keyboard may linger
    )
    await enqueue(session, svc.cipher, svc.clock.now(), message)
    draft.asked = step
    save_draft(svc, application, draft)
    return step


async def _summary(
    session: AsyncSession, svc: Services, case: Case, draft: Draft, lang: Lang
) -> tuple[str, list[list[Button]]]:
    t = svc.texts
    school = await get_school(session, case.school_id) if case.school_id else None
    view = case_view(svc.cipher, case, school, lang)
    empty = t(lang, "form.empty")
    text = t(
        lang,
        "form.summary",
        addressee=addressee(lang.value, view.authority) if view.authority else empty,
        guardian_name=view.guardian_name,
        child_name=view.child_name,
        school=view.school or empty,
        grade=view.grade if view.grade is not None else empty,
        address=draft.address or empty,
        note=draft.note or empty,
        validity=validity_text(t, lang, view),
    )

    def edit(key: str, action: CaseAction) -> Button:
        return t(lang, key), CaseCb(case_id=case.id, action=action)

    buttons = [
        [
            edit("form.edit_school_button", CaseAction.EDIT_SCHOOL),
            edit("form.edit_grade_button", CaseAction.EDIT_GRADE),
        ],
        [
            edit("form.edit_address_button", CaseAction.EDIT_ADDRESS),
            edit("form.edit_note_button", CaseAction.EDIT_NOTE),
        ],
        [edit("form.confirm_button", CaseAction.CONFIRM)],
    ]
    return text, buttons


async def edit_field(svc: Services, actor: Actor, case_id: str, step: Step) -> Step:
    """An edit button on the summary: ask that one question again."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
        application, draft = await load_draft(session, svc, case.id)
        return await ask(session, svc, case, guardian, actor, step, application, draft)


async def answer_address(svc: Services, actor: Actor, case_id: str, raw: str) -> Step:
    address = validate_address(raw)
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
        application, draft = await load_draft(session, svc, case.id)
        draft.address = address  # saved with the next question by `ask`
        step = missing_step(case, draft)
        return await ask(session, svc, case, guardian, actor, step, application, draft)


async def answer_note(svc: Services, actor: Actor, case_id: str, raw: str | None) -> Step:
    note = validate_note(raw) if raw is not None else None
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
        application, draft = await load_draft(session, svc, case.id)
        draft.note = note or None  # saved with the next question by `ask`
        step = missing_step(case, draft)
        return await ask(session, svc, case, guardian, actor, step, application, draft)


async def choose_grade(svc: Services, actor: Actor, case_id: str, grade: int) -> Step:
    if grade not in GRADES:
        raise DomainError("form.bad_grade", f"grade {grade}")
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
        case.grade = grade
        case.updated_at = svc.clock.now()
        return await ask_next(session, svc, case, guardian, actor)


async def choose_school(svc: Services, actor: Actor, case_id: str, school_id: int) -> Step:
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
        school = await get_school(session, school_id)
        if school is None:
            raise DomainError("error.stale_button", f"school {school_id} is gone")
        case.school_id, case.school_bin = school.id, school.bin
        case.updated_at = svc.clock.now()
        return await ask_next(session, svc, case, guardian, actor)


async def search_schools(svc: Services, actor: Actor, case_id: str, raw: str) -> Step:
    """Offer up to 8 registry schools with a word starting with each typed word (kk or ru
    name, locality, BIN). The registry is searched before the case is locked, through
    its word index, so a search holds no lock while it reads."""
    query = clean_text(raw)
    if len(query) < 2:
        raise DomainError("form.school_query_short", "query too short")
    if len(query) > SCHOOL_QUERY_MAX:
        raise DomainError("form.school_query_short", "query too long")
    async with svc.sessions() as session:
        found = await find_schools(session, query, MAX_SCHOOL_RESULTS)
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
        lang = guardian_lang(guardian)
        if found:
            text = svc.texts(lang, "form.school_results")
            buttons = [
                [(school_name(s, lang) or s.bin, SchoolCb(case_id=case.id, school_id=s.id))]
                for s in found
            ]
        else:
            text, buttons = svc.texts(lang, "form.school_none", query=query), []
        message = text_message(
            f"{actor.origin}:schools",
            Kind.REPLY,
            actor.chat_id,
            text,
            case_id=case.id,
            buttons=buttons,
        )
        await enqueue(session, svc.cipher, svc.clock.now(), message)
    return Step.SCHOOL
