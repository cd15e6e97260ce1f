"""Answers to the form's questions: typed, chosen, edited; each one transaction.

Every use case here reads the question, stores the answer, records and shows the next
question (through `present`, inside the transaction) and commits, all at once. They
return the next `Prompt`, so a channel that answers in its own response (a web page)
can call them with `present=None` and render what they return.

An answer that breaks a rule (an address too short, a grade of 12) is not an error of
the call: the same question stays open and the prompt says what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.domain.choices import Act, Choice, Step, Text
from bot.domain.status import CaseStatus
from bot.errors import DomainError
from bot.usecases.access import Actor, guardian_lang, lock_own_case, read_own_case
from bot.usecases.application import (
    GRADES,
    TYPED,
    Draft,
    ask,
    clean_text,
    load_draft,
    missing_step,
    save_draft,
    validate_address,
    validate_note,
)
from bot.usecases.case_views import school_name
from bot.usecases.prompts import Present, Prompt, say, show
from storage.crypto import DataCipher
from storage.models import Application, Case, Guardian
from storage.repositories.schools import find_schools, get_school

Sessions = async_sessionmaker[AsyncSession]
SCHOOL_QUERY_MAX = 100
MAX_SCHOOL_RESULTS = 8
# "5", "5 класс", "5-сынып": people type the grade the way the buttons read.
_TYPED_GRADE = re.compile(r"\s*([0-9]{1,2})\s*(?:-?\s*(?:сынып|класс))?\s*", re.IGNORECASE)


def parse_typed_grade(raw: str) -> int:
    """The grade typed instead of pressed; anything but 1-11 gets the same clear answer."""
    match = _TYPED_GRADE.fullmatch(raw)
    if match is None or int(match.group(1)) not in GRADES:
        raise DomainError("form.bad_grade", "typed grade is not 1-11")
    return int(match.group(1))


@dataclass
class _Form:
    """One locked case of the actor's with its draft, as a use case works on it."""

    case: Case
    guardian: Guardian
    application: Application
    draft: Draft


async def _lock_form(
    session: AsyncSession,
    cipher: DataCipher,
    actor: Actor,
    case_id: str,
    asked: Step | None = None,
) -> _Form:
    """Lock the actor's open form; with `asked`, only while that question is the one asked."""
    case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
    application, draft = await load_draft(session, cipher, case.id)
    if asked is not None and draft.asked is not asked:
        raise DomainError("error.stale_button", f"case {case_id} asks {draft.asked}, not {asked}")
    return _Form(case, guardian, application, draft)


async def _require_asked(
    session: AsyncSession, cipher: DataCipher, actor: Actor, case_id: str, step: Step
) -> None:
    """The checks of `_lock_form(asked=step)` without the lock, for a search."""
    await read_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
    _, draft = await load_draft(session, cipher, case_id)
    if draft.asked is not step:
        raise DomainError("error.stale_button", f"case {case_id} asks {draft.asked}, not {step}")


async def answer(
    sessions: Sessions,
    clock: Clock,
    cipher: DataCipher,
    actor: Actor,
    case_id: str,
    step: Step,
    text: str,
    *,
    present: Present | None = None,
    only_asked: bool = False,
) -> Prompt:
    """Take `text` as the answer to `step` (address, note, a school search, a grade).

    `only_asked`: refuse it unless `step` is the question asked now (a web page's form
    must be the one the page shows; a chat's buttons stay usable, as before).
    """
    if step not in TYPED:
        raise DomainError("form.nothing_to_answer", f"no typed answer to {step}")
    async with sessions.begin() as session:
        if step is Step.SCHOOL:
            if only_asked:
                await _require_asked(session, cipher, actor, case_id, step)
            return await _search(session, actor, case_id, text, present)
        form = await _lock_form(session, cipher, actor, case_id, step if only_asked else None)
        return await _take(session, cipher, clock, actor, form, step, text, present)


async def choose(
    sessions: Sessions,
    clock: Clock,
    cipher: DataCipher,
    actor: Actor,
    case_id: str,
    step: Step,
    value: str | None,
    *,
    present: Present | None = None,
    only_asked: bool = False,
) -> Prompt:
    """A choice offered by a prompt: a grade, a school (by id), or no note (None).

    `only_asked` as for `answer`."""
    async with sessions.begin() as session:
        form = await _lock_form(session, cipher, actor, case_id, step if only_asked else None)
        case, now = form.case, clock.now()
        if step is Step.GRADE and value is not None and value.isdigit() and int(value) in GRADES:
            case.grade, case.updated_at = int(value), now
        elif step is Step.SCHOOL and value is not None and value.isdigit():
            school = await get_school(session, int(value))
            if school is None:
                raise DomainError("error.stale_button", f"school {value} is gone")
            case.school_id, case.school_bin, case.updated_at = school.id, school.bin, now
        elif step is Step.NOTE and value is None:
            form.draft.note = None
        else:
            raise DomainError("error.stale_button", f"no choice {value!r} for {step}")
        return await _ask_missing(session, cipher, clock, actor, form, present)


async def edit(
    sessions: Sessions,
    clock: Clock,
    cipher: DataCipher,
    actor: Actor,
    case_id: str,
    step: Step,
    *,
    present: Present | None = None,
) -> Prompt:
    """An edit choice of the summary: ask that one question again."""
    async with sessions.begin() as session:
        form = await _lock_form(session, cipher, actor, case_id)
        return await ask(
            session, cipher, clock, actor, form.case, form.guardian, step,
            form.application, form.draft, present,
        )  # fmt: skip


async def take_open(
    session: AsyncSession,
    cipher: DataCipher,
    clock: Clock,
    actor: Actor,
    guardian: Guardian | None,
    text: str,
    present: Present | None,
) -> Prompt | None:
    """Take a typed text as the answer to the question open in the actor's form, in the
    caller's transaction; None when no question waits for a typed answer.

    A chat has no field names: the question recorded with the draft is what the text
    answers (the chat's use case, `guardian_chat.take_text`, tries the hearing next).
    `guardian` is the actor's, None when the chat is not linked.
    """
    waiting = await _open_question(session, cipher, guardian)
    if waiting is None:
        return None
    case, step = waiting
    if step is Step.SCHOOL:
        return await _search(session, actor, case.id, text, present)
    form = await _lock_form(session, cipher, actor, case.id)
    if form.draft.asked not in TYPED:  # moved on while this update waited for the lock
        return await show(session, present, actor, _nothing_to_answer(form.guardian))
    return await _take(session, cipher, clock, actor, form, form.draft.asked, text, present)


async def leave_open(
    session: AsyncSession, cipher: DataCipher, clock: Clock, actor: Actor, guardian: Guardian
) -> bool:
    """`/cancel` in the caller's transaction: the question asked no longer waits; the
    answers given stay in the draft. False when no question of the form was open."""
    waiting = await _open_question(session, cipher, guardian, include_summary=True)
    if waiting is None:
        return False
    form = await _lock_form(session, cipher, actor, waiting[0].id)
    form.draft.asked = None
    save_draft(cipher, clock.now(), form.application, form.draft)
    return True


async def has_open_question(session: AsyncSession, cipher: DataCipher, guardian: Guardian) -> bool:
    """Whether a question of the guardian's form waits for an answer (the summary too)."""
    return await _open_question(session, cipher, guardian, include_summary=True) is not None


async def _open_question(
    session: AsyncSession,
    cipher: DataCipher,
    guardian: Guardian | None,
    *,
    include_summary: bool = False,
) -> tuple[Case, Step] | None:
    """The guardian's form question asked last, among the cases whose form is open."""
    if guardian is None:
        return None
    cases = await session.scalars(
        select(Case)
        .join(Application, Application.case_id == Case.id)
        .where(Case.guardian_id == guardian.id, Case.status == CaseStatus.CONSENTED.value)
        .order_by(Application.updated_at.desc())
    )
    waiting = (*TYPED, Step.SUMMARY) if include_summary else TYPED
    for case in cases.all():
        _, draft = await load_draft(session, cipher, case.id)
        if draft.asked is not None and draft.asked in waiting:
            return case, draft.asked
    return None


async def _take(
    session: AsyncSession,
    cipher: DataCipher,
    clock: Clock,
    actor: Actor,
    form: _Form,
    step: Step,
    text: str,
    present: Present | None,
) -> Prompt:
    """Store a typed answer to `step` and ask what is missing, or say what to fix."""
    try:
        if step is Step.ADDRESS:
            form.draft.address = validate_address(text)
        elif step is Step.NOTE:
            form.draft.note = validate_note(text) or None
        else:
            form.case.grade, form.case.updated_at = parse_typed_grade(text), clock.now()
    except DomainError as refused:
        return await show(session, present, actor, _refusal(form, step, refused))
    return await _ask_missing(session, cipher, clock, actor, form, present)


async def _ask_missing(
    session: AsyncSession,
    cipher: DataCipher,
    clock: Clock,
    actor: Actor,
    form: _Form,
    present: Present | None,
) -> Prompt:
    """The answer is in the draft: ask the first missing field, or the summary."""
    case, guardian, draft = form.case, form.guardian, form.draft
    step = missing_step(case, draft)
    return await ask(
        session, cipher, clock, actor, case, guardian, step, form.application, draft, present
    )


def _refusal(form: _Form, step: Step, refused: DomainError) -> Prompt:
    """What to fix in the answer; `step` stays the question asked."""
    return Prompt(
        lang=guardian_lang(form.guardian),
        purpose=f"error:{refused.text_key}",
        parts=(Text(refused.text_key, refused.params),),
        case_id=form.case.id,
        asks=step,
    )


def _nothing_to_answer(guardian: Guardian) -> Prompt:
    return say(guardian_lang(guardian), "stray", "form.nothing_to_answer")


async def _search(
    session: AsyncSession, actor: Actor, case_id: str, raw: str, present: Present | None
) -> Prompt:
    """Offer up to 8 registry schools with a word starting with each typed word (kk or ru
    name, locality, BIN), through the registry's word index.

    A search writes nothing to the case, so it takes no lock on it: the ownership and
    status checks read the case as it is.
    """
    _, guardian = await read_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
    lang = guardian_lang(guardian)
    query = clean_text(raw)
    if not 2 <= len(query) <= SCHOOL_QUERY_MAX:
        prompt = say(lang, "error:form.school_query_short", "form.school_query_short")
        return await show(session, present, actor, _for_case(prompt, case_id))
    found = await find_schools(session, query, MAX_SCHOOL_RESULTS)
    if not found:
        prompt = say(lang, "schools", "form.school_none", query=query)
        return await show(session, present, actor, _for_case(prompt, case_id))
    choices = tuple(
        (Choice(Act.ANSWER, school_name(s, lang) or s.bin, step=Step.SCHOOL, value=str(s.id)),)
        for s in found
    )
    prompt = Prompt(
        lang=lang,
        purpose="schools",
        parts=(Text("form.school_results"),),
        choices=choices,
        case_id=case_id,
        asks=Step.SCHOOL,
    )
    return await show(session, present, actor, prompt)


def _for_case(prompt: Prompt, case_id: str) -> Prompt:
    return replace(prompt, case_id=case_id, asks=Step.SCHOOL)
