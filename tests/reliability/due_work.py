"""Scheduler work that is already due when the replicas start.

Every scheduler sweep runs in every replica, on the real clock, a minute after start. To
see that a job acts once however many replicas run it, cases are put into the database
beforehand, opened through the real intake on a clock set in the past (as in
`tests.storage.case_setup`) and moved to the state the job looks for: a guardian silent
for 25 hours (first reminder), one silent for 8 days after both reminders (expiry), a
school whose deadline is this afternoon (its reminder) and one whose deadline passed an
hour ago (overdue and escalation). Each guardian chat here hears from nothing but its
job, so the emulator's record of a chat is that job's effect.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update

from bot.clock import FrozenClock
from bot.domain.status import CaseStatus
from bot.emulator import TelegramEmulator
from bot.runtime import Services
from bot.usecases.case_views import case_number
from storage.models import AuditEvent, Case, OutboxMessage, School
from storage.outbox import Kind
from tests.reliability.sends import opened_earlier
from tests.storage.case_setup import add_school, next_chat_id, open_case, update_case

HOUR = timedelta(hours=1)
_group_ids = itertools.count(-1002000000001, -1)


@dataclass(frozen=True)
class DueCase:
    case_id: str
    guardian_chat: int


@dataclass
class DueWork:
    """The seeded cases of each job, and the school's staff and escalation chats."""

    staff_chat: int
    escalation_chat: int
    reminders: list[DueCase] = field(default_factory=list)
    expiries: list[DueCase] = field(default_factory=list)
    school_deadlines: list[DueCase] = field(default_factory=list)
    overdue: list[DueCase] = field(default_factory=list)

    @property
    def case_ids(self) -> list[str]:
        every = (*self.reminders, *self.expiries, *self.school_deadlines, *self.overdue)
        return [c.case_id for c in every]

    def expected_events(self) -> Counter[tuple[str, str]]:
        """Each job's audit event, once per case it is due for."""
        return Counter(
            (case.case_id, event)
            for cases, event in (
                (self.reminders, "guardian_reminded"),
                (self.expiries, "no_answer"),
                (self.school_deadlines, "school_reminded"),
                (self.overdue, "deadline_passed"),
            )
            for case in cases
        )

    def expected_statuses(self) -> dict[str, str]:
        """Reminders leave the status alone; expiry and overdue move it."""
        return {
            case.case_id: status.value
            for cases, status in (
                (self.reminders, CaseStatus.NOTIFIED),
                (self.expiries, CaseStatus.EXPIRED),
                (self.school_deadlines, CaseStatus.FORWARDED),
                (self.overdue, CaseStatus.OVERDUE),
            )
            for case in cases
        }

    def expected_guardian_messages(self) -> dict[int, int]:
        """Messages per guardian chat: a reminder, an expiry or an overdue notice; the
        guardians whose school is only reminded hear nothing."""
        counts = {c.guardian_chat: 1 for c in (*self.reminders, *self.expiries, *self.overdue)}
        return counts | {c.guardian_chat: 0 for c in self.school_deadlines}


async def seed_due_work(svc: Services, emu: TelegramEmulator, per_job: int) -> DueWork:
    """Put `per_job` due cases for each sweep into the database (see the module doc)."""
    work = DueWork(staff_chat=next(_group_ids), escalation_chat=next(_group_ids))
    emu.group(work.staff_chat, "№ 7 мектеп")
    emu.group(work.escalation_chat, "Білім басқармасы")
    school = await add_school(
        svc, staff_chats=(work.staff_chat,), escalation_chat_id=work.escalation_chat
    )
    now = svc.clock.now()
    for _ in range(per_job):
        silent = await _open(svc, emu, school, now - 25 * HOUR)
        await update_case(svc, silent.case_id, **_notified(now - 25 * HOUR))
        work.reminders.append(silent)
        abandoned = await _open(svc, emu, school, now - 8 * 24 * HOUR)
        await update_case(
            svc, abandoned.case_id, reminders_sent=2, **_notified(now - 8 * 24 * HOUR)
        )
        work.expiries.append(abandoned)
        for deadline, cases in (
            (now + 3 * HOUR, work.school_deadlines),
            (now - HOUR, work.overdue),
        ):
            with_school = await _open(svc, emu, school, now - 2 * HOUR)
            await update_case(svc, with_school.case_id, **_forwarded(now - 2 * HOUR, deadline))
            cases.append(with_school)
    async with svc.sessions.begin() as session:  # their notices went out back then
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.kind == Kind.NOTICE.value)
            .values(status="sent", sent_at=now - 2 * HOUR)
        )
    return work


async def _open(svc: Services, emu: TelegramEmulator, school: School, at: datetime) -> DueCase:
    """A case opened at `at` for a guardian linked to a chat the emulator knows."""
    chat = next_chat_id()
    opened_earlier(emu, chat)
    then = dataclasses.replace(svc, clock=FrozenClock(at, svc.settings.zone))
    return DueCase(await open_case(then, school=school, chat_id=chat), chat)


def _notified(at: datetime) -> dict[str, object]:
    return {"status": CaseStatus.NOTIFIED.value, "notified_at": at, "updated_at": at}


def _forwarded(at: datetime, deadline: datetime) -> dict[str, object]:
    steps = ("notified_at", "consented_at", "submitted_at", "registered_at", "forwarded_at")
    return {
        "status": CaseStatus.FORWARDED.value,
        "deadline_at": deadline,
        "updated_at": at,
        **dict.fromkeys(steps, at),
    }


async def job_events(svc: Services, work: DueWork) -> Counter[tuple[str, str]]:
    """The jobs' audit events on the seeded cases, per (case, event)."""
    jobs = {event for _, event in work.expected_events()}
    query = select(AuditEvent.case_id, AuditEvent.event).where(
        AuditEvent.case_id.in_(work.case_ids), AuditEvent.event.in_(jobs)
    )
    async with svc.sessions() as session:
        rows = (await session.execute(query)).all()
    return Counter((str(case_id), event) for case_id, event in rows)


async def case_statuses(svc: Services, case_ids: list[str]) -> dict[str, str]:
    query = select(Case.id, Case.status).where(Case.id.in_(case_ids))
    async with svc.sessions() as session:
        return dict((await session.execute(query)).all())


def cases_mentioned(emu: TelegramEmulator, chat_id: int, cases: list[DueCase]) -> Counter[str]:
    """How many messages in a chat name each case (by its number), e.g. a reminder each."""
    numbers = {case_number(c.case_id): c.case_id for c in cases}
    return Counter(
        case_id
        for message in emu.sent(chat_id)
        for number, case_id in numbers.items()
        if number in (message.text or "")
    )


def assert_each_job_acted_once(
    emu: TelegramEmulator,
    work: DueWork,
    events: Counter[tuple[str, str]],
    statuses: dict[str, str],
) -> None:
    """One audit event and one status change per due case, one message per guardian
    told, one reminder per case in the staff chat and one escalation per overdue case."""
    assert events == work.expected_events()
    assert statuses == work.expected_statuses()
    expected = work.expected_guardian_messages()
    assert {chat: len(emu.sent(chat)) for chat in expected} == expected
    for chat, cases in (
        (work.staff_chat, work.school_deadlines),
        (work.escalation_chat, work.overdue),
    ):
        assert cases_mentioned(emu, chat, cases) == Counter(c.case_id for c in cases)
        assert len(emu.sent(chat)) == len(cases)
