"""The hearing before a refusal (APPK art. 73; DESIGN 4.4 and 5).

A school's refusal is first a preliminary decision: the case moves to `hearing`, the
guardian is told the ground and the reason and may state a position (typed, or "no
objections") until `hearing_until`, counted in working days. The school receives the
position, or word that the window passed without one, in its chats and as the
`hearing_position` webhook event, and only then takes the final decision
(`bot.usecases.decisions`).
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain.choices import Act, Choice, Text
from bot.domain.identifiers import case_number
from bot.domain.status import CaseEvent, CaseStatus
from bot.domain.timing import local_time
from bot.errors import Conflict, DomainError
from bot.runtime import Deciding
from bot.texts import Lang, Texts
from bot.usecases.access import Actor, guardian_lang, lock_own_case
from bot.usecases.application import clean_text
from bot.usecases.case_views import school_name
from bot.usecases.clockwork import lock_still, reachable_chat
from bot.usecases.forwarding import decision_choices, staff_language
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import prompt_message, text_message, webhook_message
from bot.usecases.prompts import Present, Prompt, say, show
from storage.crypto import DataCipher
from storage.models import Case, Guardian, School
from storage.outbox import Kind, OutgoingMessage, enqueue
from storage.repositories.cases import list_cases_of_guardian, list_lapsed_hearing_ids
from storage.repositories.guardians import get_guardian_by_telegram
from storage.repositories.schools import get_school, list_staff_chats
from storage.session import Sessions

log = logging.getLogger(__name__)

POSITION_MIN, POSITION_MAX = 2, 2000
HEARING_OPEN = "hearing_open"
HEARING_EVENT = "hearing_position"


class HearingOpen(Conflict):
    """A final decision before the guardian answered and before the window passed."""

    def __init__(self, case: Case, until: str) -> None:
        super().__init__(
            HEARING_OPEN,
            f"the hearing of case {case.id} is open until {case.hearing_until}",
            case_number=case_number(case.id),
            until=until,
        )


def hearing_closed(case: Case, now: datetime) -> bool:
    """The school may decide finally: the guardian answered, or the window has passed."""
    if case.hearing_closed_at is not None:
        return True
    return case.hearing_until is not None and now >= case.hearing_until


def require_hearing_closed(zone: tzinfo, case: Case, now: datetime) -> None:
    """Raise HearingOpen while the guardian may still state a position (its end said in `zone`)."""
    if CaseStatus(case.status) is CaseStatus.HEARING and not hearing_closed(case, now):
        assert case.hearing_until is not None
        raise HearingOpen(case, local_time(case.hearing_until, zone))


async def start_hearing(
    session: AsyncSession,
    deps: Deciding,
    case: Case,
    guardian: Guardian,
    school: School,
    *,
    actor: str,
    ground: int,
    reason: str,
) -> datetime:
    """Record the preliminary refusal and invite the guardian; return `hearing_until`.

    The window ends like the service's own term: at the close of the n-th working day
    after the decision's registration time (a decision at night counts from the next
    working morning), so a refusal on Friday evening still leaves two working days.
    """
    now = deps.clock.now()
    until = deps.calendar.deadline(now, deps.hearing_days)
    apply_event(
        session,
        case,
        CaseEvent.PRELIMINARY_REFUSAL,
        actor=actor,
        now=now,
        details={"ground": ground, "hearing_until": until.isoformat()},
    )
    case.hearing_ground = ground
    case.hearing_reason_enc = deps.cipher.encrypt_text(reason)
    case.hearing_started_at = now
    case.hearing_until = until
    case.hearing_position_enc = None
    case.hearing_answered_at = case.hearing_closed_at = None
    case.registration_number = None  # reserved by an acceptance that did not finish
    chat_id = reachable_chat(guardian)
    if chat_id is None:
        log.warning("guardian has no chat for the hearing", extra={"case_id": case.id})
        return until
    prompt = invitation_prompt(deps.clock.zone, case, school, guardian_lang(guardian), reason)
    invitation = prompt_message(
        deps.texts, prompt, chat_id, f"hearing:{case.id}:invitation", Kind.RESULT
    )
    await enqueue(session, deps.cipher, now, invitation)
    return until


def invitation_prompt(
    zone: tzinfo, case: Case, school: School | None, lang: Lang, reason: str
) -> Prompt:
    """The preliminary refusal as the guardian reads it: the ground, the school's
    `reason` (in the clear: the caller has it or decrypts it), until when a position may
    be stated; "no objections" as its one choice (typed words are the other answer)."""
    assert case.hearing_ground is not None and case.hearing_until is not None
    text = Text(
        "hearing.invitation",
        {
            "case_number": case_number(case.id),
            "school": school_name(school, lang) or "",
            "ground": Text(f"ground.{case.hearing_ground}"),
            "reason": reason,
            "until": local_time(case.hearing_until, zone),
        },
    )
    return Prompt(lang, "hearing", (text,), ((no_objections_choice(case.id),),), case_id=case.id)


def no_objections_choice(case_id: str) -> Choice:
    """The one tap that waives the hearing, in the invitation and in its reminder."""
    return Choice(Act.NO_OBJECTIONS, Text("hearing.no_objections_button"), case_id)


def validate_position(raw: str) -> str:
    position = clean_text(raw)
    if not POSITION_MIN <= len(position) <= POSITION_MAX:
        raise DomainError(
            "hearing.position_bad", "position length", min=POSITION_MIN, max=POSITION_MAX
        )
    return position


async def open_hearing(session: AsyncSession, actor: Actor) -> str | None:
    """The latest case of this guardian in hearing, if any.

    Typed text outside any question lands here: the invitation came unasked, so the
    case row, not a conversation state, says that a position is awaited. A case whose
    window passed or that has the position already is returned too, so that the text
    gets that answer instead of "nothing to answer".
    """
    guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
    if guardian is None:
        return None
    for case in reversed(await list_cases_of_guardian(session, guardian.id)):
        if case.status == CaseStatus.HEARING.value:
            return case.id
    return None


async def state_position(
    deps: Deciding,
    actor: Actor,
    case_id: str,
    raw: str | None,
    *,
    present: Present | None = None,
) -> Prompt:
    """Record the guardian's position (None: "no objections") and pass it to the school."""
    position = None if raw is None else validate_position(raw)
    async with deps.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.HEARING,))
        now = deps.clock.now()
        number = case_number(case.id)
        if case.hearing_answered_at is not None:
            raise DomainError("hearing.already_answered", case_number=number)
        if hearing_closed(case, now):
            raise DomainError("hearing.window_passed", case_number=number)
        apply_event(
            session,
            case,
            CaseEvent.POSITION_STATED,
            actor=actor.who,
            now=now,
            details={"objection": position is not None},
        )
        case.hearing_position_enc = deps.cipher.encrypt_text(position) if position else None
        case.hearing_answered_at = case.hearing_closed_at = now
        lang = guardian_lang(guardian)
        words = position or deps.texts(lang, "hearing.no_objections")
        messages = await _school_messages(
            session, deps.texts, deps.clock.zone, case, position, words
        )
        await enqueue(session, deps.cipher, now, *messages)
        received = say(lang, "hearing_position", "hearing.position_received", case_number=number)
        return await show(session, present, actor, received)


async def list_lapse_candidates(
    session: AsyncSession, after: str | None, limit: int, *, now: datetime
) -> list[str]:
    """Cases in hearing whose window passed and whose school was not told yet."""
    return await list_lapsed_hearing_ids(session, now=now, after=after, limit=limit)


async def close_lapsed_hearing(
    sessions: Sessions, clock: Clock, cipher: DataCipher, texts: Texts, case_id: str
) -> bool:
    """Tell the school that the window passed without a position; True when done now."""
    async with sessions.begin() as session:
        case = await lock_still(session, case_id, (CaseStatus.HEARING,))
        now = clock.now()
        if case is None:
            return False
        if case.hearing_closed_at is not None or not hearing_closed(case, now):
            return False
        apply_event(session, case, CaseEvent.HEARING_LAPSED, actor="system", now=now)
        case.hearing_closed_at = now
        messages = await _school_messages(session, texts, clock.zone, case, None, None)
        await enqueue(session, cipher, now, *messages)
    log.info("hearing window passed without a position", extra={"case_id": case_id})
    return True


async def _school_messages(
    session: AsyncSession,
    texts: Texts,
    zone: tzinfo,
    case: Case,
    position: str | None,
    words: str | None,
) -> list[OutgoingMessage]:
    """The position for every inbox of the school: its chats (with the decision buttons)
    and its webhook. `words` is what the guardian said (None: nothing, the window
    passed); `position` is None for "no objections" as well."""
    school = await get_school(session, case.school_id) if case.school_id else None
    if school is None:
        return []
    lang = staff_language(school)
    text = _school_text(texts, zone, case, lang, position, words)
    choices = decision_choices(texts, lang, case.id)
    messages = [
        text_message(
            f"hearing_position:{case.id}:{chat.chat_id}",
            Kind.SCHOOL_HEARING,
            chat.chat_id,
            text,
            case_id=case.id,
            choices=choices,
        )
        for chat in await list_staff_chats(session, school.id)
    ]
    if school.webhook_url:
        body = _webhook_body(case, school, words, no_objections=words is not None and not position)
        messages.append(
            webhook_message(
                f"hearing_position:{case.id}:webhook",
                Kind.SCHOOL_HEARING,
                school.id,
                school.webhook_url,
                body,
                case_id=case.id,
            )
        )
    if not messages:
        log.warning("school has no inbox for the hearing", extra={"case_id": case.id})
    return messages


def heard_text(
    cipher: DataCipher, texts: Texts, zone: tzinfo, case: Case, lang: Lang
) -> str | None:
    """What the school was told of the hearing (the position, "no objections", or that
    none came), as its chat got it; None while the hearing is still open."""
    if case.hearing_closed_at is None:
        return None
    position = cipher.decrypt_text(case.hearing_position_enc) if case.hearing_position_enc else None
    answered = case.hearing_answered_at is not None
    words = position or (texts(lang, "hearing.no_objections") if answered else None)
    return _school_text(texts, zone, case, lang, position, words)


def _school_text(
    texts: Texts, zone: tzinfo, case: Case, lang: Lang, position: str | None, words: str | None
) -> str:
    number = case_number(case.id)
    if words is None:
        assert case.hearing_until is not None
        until = local_time(case.hearing_until, zone)
        return texts(lang, "staff.hearing_lapsed", case_number=number, until=until)
    if position is None:
        return texts(lang, "staff.hearing_no_objections", case_number=number)
    return texts(lang, "staff.hearing_position", case_number=number, position=position)


def _webhook_body(
    case: Case, school: School, words: str | None, *, no_objections: bool
) -> dict[str, Any]:
    """The `hearing_position` event of DESIGN 4.5; `position` null: the window passed."""
    assert case.hearing_until is not None and case.hearing_closed_at is not None
    return {
        "event": HEARING_EVENT,
        "case_id": case.id,
        "case_number": case_number(case.id),
        "school_bin": school.bin,
        "position": words,
        "no_objections": no_objections,
        "hearing_until": case.hearing_until.isoformat(),
        "at": case.hearing_closed_at.isoformat(),
        "decision_url": f"/api/v1/cases/{case.id}/decision",
    }
