"""Typed answers in the form: which question they answer, decided by the service."""

from __future__ import annotations

import re

from bot.domain.status import CaseStatus
from bot.errors import DomainError
from bot.runtime import Services
from bot.usecases.access import Actor, lock_own_case
from bot.usecases.application import (
    GRADES,
    Step,
    answer_address,
    answer_note,
    choose_grade,
    load_draft,
    save_draft,
    search_schools,
)
from storage.repositories.cases import list_cases_of_guardian
from storage.repositories.guardians import get_guardian_by_telegram

# "5", "5 класс", "5-сынып": people type the grade the way the buttons read.
_TYPED_GRADE = re.compile(r"\s*([0-9]{1,2})\s*(?:-?\s*(?:сынып|класс))?\s*", re.IGNORECASE)


def parse_typed_grade(raw: str) -> int:
    """The grade typed instead of pressed; anything but 1-11 gets the same clear answer."""
    match = _TYPED_GRADE.fullmatch(raw)
    if match is None or int(match.group(1)) not in GRADES:
        raise DomainError("form.bad_grade", "typed grade is not 1-11")
    return int(match.group(1))


async def answer_text(svc: Services, actor: Actor, case_id: str, raw: str, routed: Step) -> Step:
    """Take a typed answer as the answer to the question the bot asked last.

    The handler's FSM state (`routed`) is written after the transaction that queues the
    question, so a crash in between leaves it one step behind. The question recorded
    with the draft in that same transaction decides: an address never lands in the note.
    """
    async with svc.sessions() as session:
        _, draft = await load_draft(session, svc, case_id)
    step = draft.asked or routed
    if step is Step.ADDRESS:
        return await answer_address(svc, actor, case_id, raw)
    if step is Step.NOTE:
        return await answer_note(svc, actor, case_id, raw)
    if step is Step.SCHOOL:
        return await search_schools(svc, actor, case_id, raw)
    if step is Step.GRADE:
        return await choose_grade(svc, actor, case_id, parse_typed_grade(raw))
    raise DomainError("form.nothing_to_answer", "typed text at the summary")


TYPED = (Step.ADDRESS, Step.NOTE, Step.SCHOOL, Step.GRADE)


async def open_question(svc: Services, actor: Actor) -> tuple[str, Step] | None:
    """The form question of this guardian still waiting for a typed answer, if any.

    Text outside any FSM state lands here. Usually nothing waits; but a crash between
    the commit that asks and the FSM write loses the state, and the draft's record of
    the question is then what lets the conversation go on where it was.
    """
    async with svc.sessions() as session:
        guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
        if guardian is None:
            return None
        for case in reversed(await list_cases_of_guardian(session, guardian.id)):
            if case.status != CaseStatus.CONSENTED.value:
                continue
            _, draft = await load_draft(session, svc, case.id)
            if draft.asked in TYPED:
                return case.id, draft.asked
    return None


async def leave_question(svc: Services, actor: Actor, case_id: str) -> None:
    """`/cancel`: the question asked no longer waits for a typed answer."""
    async with svc.sessions.begin() as session:
        try:
            case, _ = await lock_own_case(session, case_id, actor, (CaseStatus.CONSENTED,))
        except DomainError:
            return  # submitted, withdrawn or not theirs: nothing waits anyway
        application, draft = await load_draft(session, svc, case.id)
        draft.asked = None
        save_draft(svc, application, draft)
