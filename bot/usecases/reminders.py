"""Reminders: to a silent guardian (24 h and 72 h after the notice, and on the morning of
a hearing's last day) and to the school on the morning of its deadline day.

Reminders never change a case's status and do not touch `updated_at`, which the
expiry rule reads as the guardian's last activity.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain.choices import Text
from bot.domain.deadlines import WorkingDays
from bot.domain.identifiers import case_number
from bot.domain.status import CaseStatus
from bot.domain.timing import local_time, next_daytime
from bot.texts import Texts
from bot.usecases.access import guardian_lang
from bot.usecases.case_views import case_view
from bot.usecases.clockwork import lock_still, reachable_chat
from bot.usecases.forwarding import staff_language
from bot.usecases.hearing import no_objections_choice
from bot.usecases.messages import prompt_message, text_message
from bot.usecases.prompts import Prompt
from storage.crypto import DataCipher
from storage.models import Case
from storage.outbox import Kind, enqueue
from storage.repositories.audit import add_audit_event
from storage.repositories.cases import (
    list_school_unreminded_ids,
    list_unanswered_hearing_ids,
    list_unreminded_reachable_ids,
)
from storage.repositories.guardians import get_guardian
from storage.repositories.schools import get_school, list_staff_chats
from storage.session import Sessions

log = logging.getLogger(__name__)

# After the notice, the n-th reminder is due at REMINDER_AFTER[n - 1].
REMINDER_AFTER: Final = (timedelta(hours=24), timedelta(hours=72))
SILENT_STATUSES: Final = (CaseStatus.NOTIFIED, CaseStatus.CONSENTED)
WITH_SCHOOL: Final = (CaseStatus.SUBMITTED, CaseStatus.FORWARDED)


def reminders_due(notified_at: datetime, now: datetime) -> int:
    """How many reminders should have gone out by `now` (0, 1 or 2)."""
    return sum(now >= notified_at + after for after in REMINDER_AFTER)


async def list_guardian_reminder_candidates(
    session: AsyncSession, after: str | None, limit: int, *, now: datetime
) -> list[str]:
    """Silent cases of guardians with a chat whose next reminder may be due."""
    return await list_unreminded_reachable_ids(
        session,
        SILENT_STATUSES,
        notified_before=now - REMINDER_AFTER[0],
        reminders_below=len(REMINDER_AFTER),
        after=after,
        limit=limit,
    )


async def remind_guardian(
    sessions: Sessions, clock: Clock, cipher: DataCipher, texts: Texts, case_id: str
) -> bool:
    """Queue the reminder now due for a silent case, if any; True when one was queued.

    A case whose 24 h reminder was missed (the service was down) and whose 72 h one is
    due gets a single reminder, not two in a row. The reminder waits for daytime.
    """
    async with sessions.begin() as session:
        case = await lock_still(session, case_id, SILENT_STATUSES)
        if case is None:
            return False
        now = clock.now()
        due = reminders_due(case.notified_at, now) if case.notified_at else 0
        if due <= case.reminders_sent:
            return False
        guardian = await get_guardian(session, case.guardian_id)
        chat_id = reachable_chat(guardian)
        if guardian is None or chat_id is None:
            return False
        lang = guardian_lang(guardian)
        view = case_view(cipher, case, None, lang)
        text = texts(lang, "reminder.guardian", case_number=view.number, child_name=view.child_name)
        message = text_message(
            f"reminder:{case.id}:{due}", Kind.REMINDER, chat_id, text, case_id=case.id
        )
        await enqueue(session, cipher, now, replace(message, not_before=next_daytime(now)))
        case.reminders_sent = due
        add_audit_event(
            session,
            case_id=case.id,
            at=now,
            actor="system",
            event="guardian_reminded",
            details={"reminder": due},
        )
    log.info("guardian reminder %d queued", due, extra={"case_id": case_id})
    return True


def _school_reminder_due(calendar: WorkingDays, zone: tzinfo, case: Case, now: datetime) -> bool:
    """From 09:00 of the deadline day until the deadline itself."""
    if case.deadline_at is None or case.school_reminded_at is not None:
        return False
    deadline = case.deadline_at.astimezone(zone)
    local_now = now.astimezone(zone)
    if deadline.date() != local_now.date() or now >= deadline:
        return False
    return now >= calendar.morning_of(deadline.date())


async def list_school_reminder_candidates(
    session: AsyncSession, after: str | None, limit: int, *, now: datetime
) -> list[str]:
    """Cases with the school whose deadline falls within the next 24 hours."""
    return await list_school_unreminded_ids(
        session,
        WITH_SCHOOL,
        deadline_after=now,
        deadline_until=now + timedelta(days=1),
        after=after,
        limit=limit,
    )


async def remind_school(
    sessions: Sessions,
    clock: Clock,
    calendar: WorkingDays,
    cipher: DataCipher,
    texts: Texts,
    case_id: str,
) -> bool:
    """Remind every staff chat of the school that today is the deadline; True if done.

    A school reached only by webhook has no chat to remind; the case is still marked
    reminded so it is not looked at again every minute.
    """
    async with sessions.begin() as session:
        case = await lock_still(session, case_id, WITH_SCHOOL)
        now = clock.now()
        if case is None:
            return False
        if not _school_reminder_due(calendar, clock.zone, case, now):
            return False
        assert case.deadline_at is not None
        school = await get_school(session, case.school_id) if case.school_id else None
        chats = list(await list_staff_chats(session, school.id)) if school else []
        if school is not None and chats:
            text = texts(
                staff_language(school),
                "staff.reminder",
                case_number=case_number(case.id),
                deadline=local_time(case.deadline_at, clock.zone),
            )
            messages = [
                text_message(
                    f"school_reminder:{case.id}:{chat.chat_id}",
                    Kind.SCHOOL_REMINDER,
                    chat.chat_id,
                    text,
                    case_id=case.id,
                )
                for chat in chats
            ]
            await enqueue(session, cipher, now, *messages)
        case.school_reminded_at = now
        add_audit_event(
            session,
            case_id=case.id,
            at=now,
            actor="system",
            event="school_reminded",
            details={"chats": len(chats)},
        )
    log.info("school reminded of today's deadline", extra={"case_id": case_id})
    return True


def _hearing_reminder_due(calendar: WorkingDays, zone: tzinfo, case: Case, now: datetime) -> bool:
    """From 09:00 of the hearing's last day until its end, while no position came."""
    if case.hearing_until is None or case.hearing_reminded_at is not None:
        return False
    if case.hearing_answered_at is not None or case.hearing_closed_at is not None:
        return False
    last_day = case.hearing_until.astimezone(zone).date()
    return calendar.morning_of(last_day) <= now < case.hearing_until


async def list_hearing_reminder_candidates(
    session: AsyncSession, after: str | None, limit: int, *, now: datetime
) -> list[str]:
    """Cases in hearing, still without the guardian's position, ending within 24 hours."""
    return await list_unanswered_hearing_ids(
        session, ends_after=now, ends_until=now + timedelta(days=1), after=after, limit=limit
    )


async def remind_hearing(
    sessions: Sessions,
    clock: Clock,
    calendar: WorkingDays,
    cipher: DataCipher,
    texts: Texts,
    case_id: str,
) -> bool:
    """On the last day of the hearing, remind a silent guardian once; True if queued."""
    async with sessions.begin() as session:
        case = await lock_still(session, case_id, (CaseStatus.HEARING,))
        now = clock.now()
        if case is None:
            return False
        if not _hearing_reminder_due(calendar, clock.zone, case, now):
            return False
        assert case.hearing_until is not None
        case.hearing_reminded_at = now
        add_audit_event(session, case_id=case.id, at=now, actor="system", event="hearing_reminded")
        guardian = await get_guardian(session, case.guardian_id)
        chat_id = reachable_chat(guardian)
        if guardian is None or chat_id is None:
            return True
        params = {
            "case_number": case_number(case.id),
            "until": local_time(case.hearing_until, clock.zone),
        }
        prompt = Prompt(
            guardian_lang(guardian),
            "hearing_reminder",
            (Text("reminder.hearing", params),),
            ((no_objections_choice(case.id),),),
            case_id=case.id,
        )
        message = prompt_message(
            texts, prompt, chat_id, f"hearing_reminder:{case.id}", Kind.REMINDER
        )
        await enqueue(session, cipher, now, message)
    log.info("guardian reminded of the hearing's last day", extra={"case_id": case_id})
    return True
