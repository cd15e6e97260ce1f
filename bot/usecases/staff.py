"""Decisions taken in a school's staff chat: only that school's chats may decide."""

from __future__ import annotations

from collections.abc import Awaitable

from bot.domain.choices import Act, Choice
from bot.domain.identifiers import case_number
from bot.domain.status import DECIDABLE_STATUSES, CaseStatus
from bot.domain.timing import local_time
from bot.errors import Conflict, DomainError, NotFound
from bot.runtime import Deciding
from bot.texts import Lang
from bot.usecases import decisions
from bot.usecases.access import Actor
from bot.usecases.decisions import REASON_MAX, REASON_MIN, DecisionResult, SchoolActor
from bot.usecases.forwarding import staff_language
from bot.usecases.hearing import HearingOpen, require_hearing_closed
from bot.usecases.replies import reply
from storage.repositories.cases import get_case
from storage.repositories.schools import get_school, get_staff_chat

FORCE_REPLY = {"force_reply": True, "input_field_placeholder": "…"}


async def _chat_school(deps: Deciding, actor: Actor, case_id: str) -> tuple[SchoolActor, Lang]:
    """The school whose inbox this chat is, if the case belongs to it and is still open.

    A package forwarded to another chat does nothing there: that chat is not the
    case's school's inbox, so it learns only that it may not decide.
    """
    async with deps.sessions() as session:
        chat = await get_staff_chat(session, actor.chat_id)
        school = await get_school(session, chat.school_id) if chat else None
        case = await get_case(session, case_id)
    if school is None or case is None or case.school_id != school.id:
        raise DomainError("staff.not_your_school", f"chat {actor.chat_id} may not decide {case_id}")
    if CaseStatus(case.status) not in DECIDABLE_STATUSES:
        raise DomainError("staff.already_decided", case_number=case_number(case_id))
    try:
        require_hearing_closed(deps.clock.zone, case, deps.clock.now())
    except HearingOpen as exc:
        raise _hearing_open(exc) from None
    label = f"telegram:{actor.telegram_user_id}@{actor.chat_id}"
    school_actor = SchoolActor(
        school_id=school.id, label=label, staff_name=actor.display_name or None
    )
    return school_actor, staff_language(school)


def _hearing_open(exc: HearingOpen) -> DomainError:
    """The hearing is open: the chat is told until when, in its own words."""
    return DomainError("staff.hearing_open", str(exc), **exc.params)


async def _decide(case_id: str, decision: Awaitable[DecisionResult]) -> DecisionResult:
    """Say it in the chat's terms: another school's case, or one already decided."""
    try:
        result = await decision
    except HearingOpen as exc:
        raise _hearing_open(exc) from None
    except NotFound:
        raise DomainError("staff.not_your_school", case_id) from None
    except Conflict:
        raise DomainError("staff.already_decided", case_number=case_number(case_id)) from None
    return result


async def accept_in_chat(deps: Deciding, actor: Actor, case_id: str) -> None:
    school, lang = await _chat_school(deps, actor, case_id)
    result = await _decide(case_id, decisions.accept(deps, case_id, school))
    text = deps.texts(
        lang,
        "staff.accepted_done",
        case_number=result.case_number,
        registration_number=result.registration_number,
    )
    await reply(deps, actor, text, purpose="accepted")


async def ask_ground(deps: Deciding, actor: Actor, case_id: str) -> None:
    _, lang = await _chat_school(deps, actor, case_id)
    t = deps.texts
    text = "\n\n".join(
        [
            t(lang, "staff.choose_ground", case_number=case_number(case_id)),
            t(
                lang,
                "staff.grounds_list",
                **{f"ground{g}": t(lang, f"ground.{g}") for g in (1, 2, 3)},
            ),
        ]
    )
    choices = (
        tuple(
            Choice(Act.GROUND, t(lang, "staff.ground_button", ground=g), case_id, value=str(g))
            for g in (1, 2, 3)
        ),
    )
    await reply(deps, actor, text, purpose="grounds", choices=choices)


async def ask_reason(deps: Deciding, actor: Actor, case_id: str, ground: int) -> None:
    """Ask for the reason as a force-reply: in a group with privacy mode, the bot sees
    only commands and replies to its own messages, so the answer must be a reply."""
    _, lang = await _chat_school(deps, actor, case_id)
    text = deps.texts(
        lang,
        "staff.ask_reason",
        case_number=case_number(case_id),
        ground=ground,
        min=REASON_MIN,
        max=REASON_MAX,
    )
    await reply(deps, actor, text, purpose="ask_reason", reply_markup=FORCE_REPLY)


async def refuse_in_chat(
    deps: Deciding, actor: Actor, case_id: str, ground: int, reason: str
) -> None:
    school, lang = await _chat_school(deps, actor, case_id)
    result = await _decide(case_id, decisions.refuse(deps, case_id, school, ground, reason))
    if result.hearing_until is not None:
        text = deps.texts(
            lang,
            "staff.hearing_started",
            case_number=result.case_number,
            ground=ground,
            until=local_time(result.hearing_until, deps.clock.zone),
        )
    else:
        text = deps.texts(lang, "staff.refused_done", case_number=result.case_number, ground=ground)
    await reply(deps, actor, text, purpose="refused")
