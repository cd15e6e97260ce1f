"""The application (annex 2): prefilled draft, its questions, the summary and its edits.

The draft row is the only record of where the guardian is in the form: `Draft.asked`
names the question asked last, written in the same transaction that queues it, so a
typed answer always goes to the question the guardian sees, across restarts and
replicas. The questions are channel-neutral `Prompt`s (see `bot.usecases.prompts`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.documents.application import addressee
from bot.domain.choices import Act, Choice, Step, Text
from bot.errors import DomainError
from bot.texts import Lang
from bot.usecases.access import Actor, guardian_lang
from bot.usecases.case_views import case_view, validity
from bot.usecases.prompts import Present, Prompt, show
from storage.crypto import DataCipher
from storage.models import Application, Case, Guardian
from storage.repositories.schools import get_school

__all__ = ["Draft", "Step", "ask", "ask_next", "load_draft", "missing_step", "open_draft"]

ADDRESS_MIN, ADDRESS_MAX = 10, 300
# The service is for primary, basic and general secondary education: grades 1 to 11.
GRADES = range(1, 12)
GRADES_PER_ROW = 4
NOTE_MAX = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
TYPED = (Step.ADDRESS, Step.NOTE, Step.SCHOOL, Step.GRADE)
"""The questions a typed text can answer (grade and school have buttons too)."""


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
    session: AsyncSession, cipher: DataCipher, case_id: str
) -> tuple[Application, Draft]:
    """The draft as committed now: re-read even if this session loaded it before."""
    result = await session.execute(
        select(Application)
        .where(Application.case_id == case_id)
        .execution_options(populate_existing=True)
    )
    application = result.scalars().first()
    if application is None:
        raise DomainError("error.stale_button", f"case {case_id} has no draft")
    return application, _decrypted(cipher, application)


def _decrypted(cipher: DataCipher, application: Application) -> Draft:
    data = cipher.decrypt_json(application.fields_enc) if application.fields_enc else {}
    asked = Step(data["asked"]) if data.get("asked") in Step._value2member_map_ else None
    return Draft(address=data.get("address"), note=data.get("note"), asked=asked)


def save_draft(cipher: DataCipher, now: datetime, application: Application, draft: Draft) -> None:
    application.fields_enc = cipher.encrypt_json(draft.to_json())
    application.updated_at = now


async def open_draft(
    session: AsyncSession, cipher: DataCipher, now: datetime, case: Case, guardian: Guardian
) -> tuple[Application, Draft]:
    """The case's draft; created at the first consent, with the address prefilled from
    this guardian's last application."""
    existing = await session.execute(
        select(Application)
        .where(Application.case_id == case.id)
        .execution_options(populate_existing=True)
    )
    application = existing.scalars().first()
    if application is not None:
        return application, _decrypted(cipher, application)
    draft = Draft(address=await _last_address(session, cipher, guardian.id))
    application = Application(
        case_id=case.id, language=guardian_lang(guardian).value, created_at=now, updated_at=now
    )
    save_draft(cipher, now, application, draft)
    session.add(application)
    await session.flush()
    return application, draft


async def _last_address(session: AsyncSession, cipher: DataCipher, guardian_id: int) -> str | None:
    """A second child usually lives at the same address: offer it, editable in the summary."""
    result = await session.execute(
        select(Application.fields_enc)
        .join(Case, Case.id == Application.case_id)
        .where(Case.guardian_id == guardian_id, Application.confirmed_at.is_not(None))
        .order_by(Application.confirmed_at.desc())
        .limit(1)
    )
    blob = result.scalar_one_or_none()
    return cipher.decrypt_json(blob).get("address") if blob else None


async def ask_next(
    session: AsyncSession,
    cipher: DataCipher,
    clock: Clock,
    actor: Actor,
    case: Case,
    guardian: Guardian,
    present: Present | None,
) -> Prompt:
    """Ask the first missing field, or show the summary when the draft is complete."""
    application, draft = await load_draft(session, cipher, case.id)
    step = missing_step(case, draft)
    return await ask(
        session, cipher, clock, actor, case, guardian, step, application, draft, present
    )


async def ask(
    session: AsyncSession,
    cipher: DataCipher,
    clock: Clock,
    actor: Actor,
    case: Case,
    guardian: Guardian,
    step: Step,
    application: Application,
    draft: Draft,
    present: Present | None,
) -> Prompt:
    """Record `step` as asked and show its question, in the caller's transaction.

    The draft is saved here with whatever answer the caller put into it, so the answer
    and the next question are one write.
    """
    lang = guardian_lang(guardian)
    if step is Step.SUMMARY:
        prompt = await summary(session, cipher, case, draft, lang)
    else:
        prompt = question(case.id, lang, step)
    draft.asked = step
    save_draft(cipher, clock.now(), application, draft)
    return await show(session, present, actor, prompt)


def question(case_id: str, lang: Lang, step: Step) -> Prompt:
    """The question of one field, with its buttons (grades, skipping the note)."""
    choices: tuple[tuple[Choice, ...], ...] = ()
    if step is Step.GRADE:
        text = Text("form.ask_grade")
        choices = tuple(
            tuple(
                Choice(Act.ANSWER, Text("form.grade_button", {"grade": g}), step=step, value=str(g))
                for g in GRADES[i : i + GRADES_PER_ROW]
            )
            for i in range(0, len(GRADES), GRADES_PER_ROW)
        )
    elif step is Step.NOTE:
        text = Text("form.ask_note", {"max": NOTE_MAX})
        choices = ((Choice(Act.SKIP, Text("form.note_skip_button"), step=step),),)
    else:
        text = Text("form.ask_school" if step is Step.SCHOOL else "form.ask_address")
    return Prompt(
        lang=lang,
        purpose=f"ask:{step.value}",
        parts=(text,),
        choices=choices,
        case_id=case_id,
        asks=step,
    )


EDITABLE = (Step.SCHOOL, Step.GRADE, Step.ADDRESS, Step.NOTE)


async def summary(
    session: AsyncSession, cipher: DataCipher, case: Case, draft: Draft, lang: Lang
) -> Prompt:
    """The whole application as it will be sent, with an edit choice per field."""
    school = await get_school(session, case.school_id) if case.school_id else None
    view = case_view(cipher, case, school, lang)
    empty = Text("form.empty")
    text = Text(
        "form.summary",
        {
            "addressee": addressee(lang.value, view.authority) if view.authority else empty,
            "guardian_name": view.guardian_name,
            "child_name": view.child_name,
            "school": view.school or empty,
            "grade": view.grade if view.grade is not None else empty,
            "address": draft.address or empty,
            "note": draft.note or empty,
            "validity": validity(view),
        },
    )
    edits = [Choice(Act.EDIT, Text(f"form.edit_{s.value}_button"), step=s) for s in EDITABLE]
    confirm = Choice(Act.CONFIRM, Text("form.confirm_button"))
    return Prompt(
        lang=lang,
        purpose=f"ask:{Step.SUMMARY.value}",
        parts=(text,),
        choices=(tuple(edits[:2]), tuple(edits[2:]), (confirm,)),
        case_id=case.id,
        asks=Step.SUMMARY,
    )
