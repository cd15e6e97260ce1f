"""Scheduler jobs on SQLite and PostgreSQL, driven by a frozen clock (nothing sleeps).

The `run_*` functions are called directly, as APScheduler would call them; running a
job twice must change nothing the second time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED  # type: ignore[import-untyped]
from sqlalchemy import select

from bot.clock import FrozenClock
from bot.domain.status import CaseStatus
from bot.logs import setup_logging
from bot.runtime import Services, session_factory
from scheduler.jobs.expire_cases import run_expire_cases
from scheduler.jobs.guardian_reminders import run_guardian_reminders
from scheduler.jobs.overdue_cases import run_overdue_cases
from scheduler.jobs.school_reminders import run_school_reminders
from scheduler.setup import build_scheduler
from storage.models import AuditEvent, Guardian, OutboxMessage
from storage.outbox import Kind
from storage.session import create_engine
from tests.conftest import Database
from tests.storage.case_setup import (
    add_school,
    almaty,
    get_case_row,
    mark_forwarded,
    next_chat_id,
    open_case,
    outbox,
    payload_of,
    update_case,
)

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
S = CaseStatus


async def notified_case(svc: Services, chat_id: int | None, status: CaseStatus = S.NOTIFIED) -> str:
    case_id = await open_case(svc, chat_id=chat_id)
    now = svc.clock.now()
    await update_case(svc, case_id, status=status.value, notified_at=now, updated_at=now)
    return case_id


async def audit_events(svc: Services, case_id: str) -> list[str]:
    async with svc.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent.event).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)
        )
        return list(rows.all())


# --- guardian reminders -------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.NOTIFIED, S.CONSENTED])
async def test_guardian_reminders_at_24h_and_72h_once_each(
    services: Services, clock: FrozenClock, status: CaseStatus
) -> None:
    chat_id = next_chat_id()
    case_id = await notified_case(services, chat_id, status)
    notified_at = clock.now()

    clock.advance(24 * HOUR - MINUTE)
    assert await run_guardian_reminders(services) == 0
    clock.advance(MINUTE)
    assert await run_guardian_reminders(services) == 1
    assert await run_guardian_reminders(services) == 0
    clock.advance(48 * HOUR - MINUTE)
    assert await run_guardian_reminders(services) == 0
    clock.advance(MINUTE)
    assert await run_guardian_reminders(services) == 1
    assert await run_guardian_reminders(services) == 0
    clock.advance(10 * DAY)
    assert await run_guardian_reminders(services) == 0

    rows = await outbox(services, kind=Kind.REMINDER)
    assert [r.dedupe_key for r in rows] == [f"reminder:{case_id}:1", f"reminder:{case_id}:2"]
    assert [r.next_attempt_at for r in rows] == [notified_at + 24 * HOUR, notified_at + 72 * HOUR]
    assert {r.recipient for r in rows} == {str(chat_id)}
    text = payload_of(services, rows[0])["params"]["text"]
    assert "Напоминаем" in text and "Сейтқали Әлихан Нұрланұлы" in text
    case = await get_case_row(services, case_id)
    assert (case.reminders_sent, case.status) == (2, status.value)
    assert (await audit_events(services, case_id)).count("guardian_reminded") == 2


async def test_guardian_reminder_due_at_night_waits_for_morning(
    services: Services, clock: FrozenClock
) -> None:
    clock.set(almaty(2026, 11, 25, 20, 30))
    case_id = await notified_case(services, next_chat_id())

    clock.set(almaty(2026, 11, 26, 21, 15))  # 24 h 45 min later: past 21:00
    assert await run_guardian_reminders(services) == 1

    [row] = await outbox(services, kind=Kind.REMINDER, case_id=case_id)
    assert row.next_attempt_at == almaty(2026, 11, 27, 9, 0)


async def test_guardian_reminders_missed_while_down_send_one_not_two(
    services: Services, clock: FrozenClock
) -> None:
    case_id = await notified_case(services, next_chat_id())

    clock.advance(80 * HOUR)
    assert await run_guardian_reminders(services) == 1
    assert await run_guardian_reminders(services) == 0

    rows = await outbox(services, kind=Kind.REMINDER, case_id=case_id)
    assert [r.dedupe_key for r in rows] == [f"reminder:{case_id}:2"]


async def test_guardian_reminder_not_sent_without_reachable_chat(
    services: Services, clock: FrozenClock
) -> None:
    unlinked = await open_case(services)  # awaiting_link: the guardian never opened the bot
    blocked = await notified_case(services, next_chat_id())
    blocked_guardian = (await get_case_row(services, blocked)).guardian_id
    async with services.sessions.begin() as session:
        guardian = await session.get(Guardian, blocked_guardian)
        assert guardian is not None
        guardian.unreachable_at = clock.now()

    clock.advance(73 * HOUR)
    assert await run_guardian_reminders(services) == 0

    assert await outbox(services, kind=Kind.REMINDER) == []
    assert (await get_case_row(services, unlinked)).status == S.AWAITING_LINK.value
    assert (await get_case_row(services, blocked)).reminders_sent == 0


# --- expiry -------------------------------------------------------------------------------


async def test_expiry_after_7_days_tells_guardian_not_school(
    services: Services, clock: FrozenClock
) -> None:
    staff_chat, escalation_chat = next_chat_id(), next_chat_id()
    school = await add_school(
        services, staff_chats=(staff_chat,), escalation_chat_id=escalation_chat
    )
    chat_id = next_chat_id()
    case_id = await open_case(services, school=school, chat_id=chat_id)
    now = clock.now()
    await update_case(services, case_id, status=S.NOTIFIED.value, notified_at=now, updated_at=now)

    clock.advance(7 * DAY - MINUTE)
    assert await run_expire_cases(services) == 0
    clock.set(almaty(2026, 12, 2, 10, 0))
    assert await run_expire_cases(services) == 1
    assert await run_expire_cases(services) == 0

    case = await get_case_row(services, case_id)
    assert (case.status, case.closed_at) == (S.EXPIRED.value, clock.now())
    [result] = await outbox(services, kind=Kind.RESULT)
    assert (result.dedupe_key, result.recipient) == (f"expired:{case_id}", str(chat_id))
    assert "egov.kz" in payload_of(services, result)["params"]["text"]
    recipients = {row.recipient for row in await outbox(services)}
    assert recipients == {str(chat_id)}  # the notice and the result; nothing to the school
    assert "no_answer" in await audit_events(services, case_id)


async def test_expiry_at_night_queues_the_message_for_morning(
    services: Services, clock: FrozenClock
) -> None:
    clock.set(almaty(2026, 11, 25, 20, 50))
    case_id = await notified_case(services, next_chat_id())

    clock.set(almaty(2026, 12, 2, 22, 0))
    assert await run_expire_cases(services) == 1

    [result] = await outbox(services, kind=Kind.RESULT, case_id=case_id)
    assert result.next_attempt_at == almaty(2026, 12, 3, 9, 0)


async def test_expiry_of_unlinked_case_sends_nothing(
    services: Services, clock: FrozenClock
) -> None:
    case_id = await open_case(services)

    clock.advance(7 * DAY)
    assert await run_expire_cases(services) == 1

    assert (await get_case_row(services, case_id)).status == S.EXPIRED.value
    assert await outbox(services) == []


async def test_expiry_counts_from_last_guardian_activity(
    services: Services, clock: FrozenClock
) -> None:
    start = clock.now()
    case_id = await notified_case(services, next_chat_id())
    consented = start + 5 * DAY
    await update_case(
        services, case_id, status=S.CONSENTED.value, consented_at=consented, updated_at=consented
    )

    clock.set(start + 7 * DAY)
    assert await run_expire_cases(services) == 0
    clock.set(consented + 7 * DAY)
    assert await run_expire_cases(services) == 1
    assert (await get_case_row(services, case_id)).status == S.EXPIRED.value


@pytest.mark.parametrize("status", [S.RECEIVED, S.SUBMITTED, S.FORWARDED, S.OVERDUE])
async def test_expiry_leaves_cases_not_waiting_for_guardian(
    services: Services, clock: FrozenClock, status: CaseStatus
) -> None:
    case_id = await notified_case(services, next_chat_id(), status)

    clock.advance(30 * DAY)
    assert await run_expire_cases(services) == 0
    assert (await get_case_row(services, case_id)).status == status.value


# --- school reminder and overdue ----------------------------------------------------------

DEADLINE = almaty(2026, 11, 27, 18, 30)


async def case_with_school(
    svc: Services, *, staff_chats: tuple[int, ...] = (), escalation_chat_id: int | None = None
) -> tuple[str, int, str]:
    """A forwarded case due on Friday 2026-11-27 18:30; returns (case, guardian chat, BIN)."""
    school = await add_school(
        svc, staff_chats=staff_chats, escalation_chat_id=escalation_chat_id, name_kk="Мектеп"
    )
    chat_id = next_chat_id()
    case_id = await open_case(svc, school=school, chat_id=chat_id)
    await mark_forwarded(svc, case_id, DEADLINE)
    return case_id, chat_id, school.bin


async def test_school_reminder_on_deadline_morning_once(
    services: Services, clock: FrozenClock
) -> None:
    chats = (next_chat_id(), next_chat_id())
    case_id, _, _ = await case_with_school(services, staff_chats=chats)

    clock.set(almaty(2026, 11, 26, 12, 0))
    assert await run_school_reminders(services) == 0
    clock.set(almaty(2026, 11, 27, 8, 59))
    assert await run_school_reminders(services) == 0
    clock.set(almaty(2026, 11, 27, 9, 0))
    assert await run_school_reminders(services) == 1
    clock.advance(HOUR)
    assert await run_school_reminders(services) == 0

    rows = await outbox(services, kind=Kind.SCHOOL_REMINDER)
    assert [r.dedupe_key for r in rows] == [f"school_reminder:{case_id}:{c}" for c in chats]
    assert [r.recipient for r in rows] == [str(c) for c in chats]
    text = payload_of(services, rows[0])["params"]["text"]
    assert "27.11.2026 18:30" in text and text.startswith("Еске салу")  # Kazakh school
    case = await get_case_row(services, case_id)
    assert case.school_reminded_at == almaty(2026, 11, 27, 9, 0)
    assert case.status == S.FORWARDED.value


async def test_school_reminder_skipped_once_deadline_passed(
    services: Services, clock: FrozenClock
) -> None:
    await case_with_school(services, staff_chats=(next_chat_id(),))

    clock.set(almaty(2026, 11, 27, 18, 45))
    assert await run_school_reminders(services) == 0
    assert await outbox(services, kind=Kind.SCHOOL_REMINDER) == []


async def test_overdue_escalates_and_tells_guardian(services: Services, clock: FrozenClock) -> None:
    escalation_chat = next_chat_id()
    case_id, guardian_chat, school_bin = await case_with_school(
        services, staff_chats=(next_chat_id(),), escalation_chat_id=escalation_chat
    )

    clock.set(DEADLINE)
    assert await run_overdue_cases(services) == 0
    clock.set(DEADLINE + MINUTE)
    assert await run_overdue_cases(services) == 1
    assert await run_overdue_cases(services) == 0

    case = await get_case_row(services, case_id)
    assert (case.status, case.escalated_at) == (S.OVERDUE.value, DEADLINE + MINUTE)
    [escalation] = await outbox(services, kind=Kind.ESCALATION)
    assert escalation.dedupe_key == f"escalation:overdue:{case_id}"
    assert escalation.recipient == str(escalation_chat)
    escalation_text = payload_of(services, escalation)["params"]["text"]
    assert school_bin in escalation_text and "27.11.2026 18:30" in escalation_text
    [result] = await outbox(services, kind=Kind.RESULT)
    assert (result.dedupe_key, result.recipient) == (f"overdue:{case_id}", str(guardian_chat))
    assert result.next_attempt_at == DEADLINE + MINUTE
    assert "в установленный срок" in payload_of(services, result)["params"]["text"]
    assert "deadline_passed" in await audit_events(services, case_id)


async def test_overdue_without_escalation_chat_still_marks_and_tells_guardian(
    services: Services, clock: FrozenClock
) -> None:
    case_id, guardian_chat, _ = await case_with_school(services)

    clock.set(DEADLINE + HOUR)
    assert await run_overdue_cases(services) == 1

    assert (await get_case_row(services, case_id)).status == S.OVERDUE.value
    assert await outbox(services, kind=Kind.ESCALATION) == []
    assert [r.recipient for r in await outbox(services, kind=Kind.RESULT)] == [str(guardian_chat)]


async def test_overdue_two_replicas_act_once(
    database: Database, services: Services, clock: FrozenClock
) -> None:
    """Two processes sweeping the same database at once: one escalation, one message."""
    for _ in range(5):
        await case_with_school(services, escalation_chat_id=next_chat_id())
    connect_args = {"server_settings": {"search_path": database.schema}} if database.schema else {}
    engine = create_engine(database.url, connect_args=connect_args)
    other = dataclasses.replace(
        services, engine=engine, sessions=session_factory(engine, asyncio.Event())
    )
    clock.set(DEADLINE + MINUTE)
    try:
        counts = await asyncio.gather(run_overdue_cases(services), run_overdue_cases(other))
    finally:
        await engine.dispose()

    assert sum(counts) == 5
    async with services.sessions() as session:
        kinds = (await session.scalars(select(OutboxMessage.kind))).all()
    assert sorted(k for k in kinds if k != Kind.NOTICE) == ["escalation"] * 5 + ["result"] * 5


# --- registration -------------------------------------------------------------------------


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_build_scheduler_registers_every_job_not_started(services: Services) -> None:
    scheduler = build_scheduler(services)

    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "guardian_reminders",
        "expire_cases",
        "school_reminders",
        "overdue_cases",
        "hearing_reminders",
        "hearing_lapses",
        "purge_personal_data",
    }
    assert not scheduler.running
    assert str(scheduler.timezone) == "Asia/Almaty"
    for job in jobs.values():
        assert (job.max_instances, job.coalesce) == (1, True)
        assert job.misfire_grace_time and job.misfire_grace_time > 0
        assert job.args == (services,)
    assert jobs["overdue_cases"].trigger.interval == timedelta(seconds=60)
    purge = str(jobs["purge_personal_data"].trigger)
    assert "hour='3'" in purge and "minute='0'" in purge


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_idle_scheduler_is_silent_and_a_run_that_did_something_says_so(
    services: Services, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """The running scheduler at the service's log level: job runs that found nothing
    write nothing (APScheduler's own two lines per run included); a run that did
    something (reminded, expired) says what."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("apscheduler").level)
    setup_logging("text")
    try:
        idle = await run_every_job_once(services, capsys)
        case_id = await open_case(services, chat_id=next_chat_id())
        now = clock.now()
        await update_case(services, case_id, status=S.NOTIFIED.value, notified_at=now)
        clock.set(almaty(2026, 12, 2, 10, 0))
        capsys.readouterr()  # the case's opening
        busy = await run_every_job_once(services, capsys)
    finally:
        root.handlers[:], level, scheduler_level = saved
        root.setLevel(level)
        logging.getLogger("apscheduler").setLevel(scheduler_level)

    assert idle == []
    assert any(line.endswith("scheduler.jobs.expire_cases: cases expired: 1") for line in busy)
    assert not [line for line in busy if "apscheduler" in line], busy


async def run_every_job_once(svc: Services, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Start the real scheduler, run each job now, stop it; the log lines written."""
    scheduler = build_scheduler(svc)
    done: asyncio.Queue[str] = asyncio.Queue()
    scheduler.add_listener(lambda event: done.put_nowait(event.job_id), EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        for job in scheduler.get_jobs():
            job.modify(next_run_time=datetime.now(UTC))
        ran = {await asyncio.wait_for(done.get(), timeout=10) for _ in scheduler.get_jobs()}
        assert len(ran) == len(scheduler.get_jobs())
    finally:
        scheduler.shutdown(wait=False)
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]
