"""Typed answers in the form: which question they answer, decided by the service."""

from __future__ import annotations

from bot.errors import DomainError
from bot.runtime import Services
from bot.services.access import Actor
from bot.services.application import (
    Step,
    answer_address,
    answer_note,
    choose_grade,
    load_draft,
    search_schools,
)


def parse_typed_grade(raw: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 2):
        raise DomainError("form.bad_grade", "typed grade is not a number")
    return int(text)


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
