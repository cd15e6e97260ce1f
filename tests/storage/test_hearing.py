"""The hearing on SQLite and PostgreSQL: the window on the working-day calendar, who may
answer, the lapse job, and two final decisions at once."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.clock import FrozenClock
from bot.domain.status import CaseStatus
from bot.errors import Conflict, DomainError
from bot.runtime import Services
from bot.usecases import decisions, hearing
from bot.usecases.access import Actor
from bot.usecases.decisions import SchoolActor
from bot.usecases.revocation import revoke_signal
from scheduler.jobs import (
    run_hearing_lapses,
    run_hearing_reminders,
    run_overdue_cases,
    run_school_reminders,
)
from storage.models import Document
from storage.outbox import Kind
from tests.storage.case_setup import (
    ALMATY,
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

REASON = "Сынып нөмірі қорытындыға сәйкес емес"
POSITION = "Сынып нөмірі дұрыс, мектептің анықтамасы бар"


async def heard_case(svc: Services, staff_chat: int) -> tuple[str, Actor, SchoolActor]:
    """A forwarded case of a linked guardian, preliminarily refused by the school."""
    school = await add_school(svc, staff_chats=(staff_chat,))
    chat_id = next_chat_id()
    case_id = await open_case(svc, school=school, chat_id=chat_id, lang="kk")
    await mark_forwarded(svc, case_id, svc.clock.now() + timedelta(days=2))
    staff = SchoolActor(school_id=school.id, label="api:test")
    result = await decisions.refuse(svc.deciding, case_id, staff, 2, REASON)
    assert result.status is CaseStatus.HEARING
    return case_id, Actor(telegram_user_id=chat_id, chat_id=chat_id, origin="u1"), staff


@pytest.mark.parametrize(
    ("refused_at", "until"),
    [
        (almaty(2026, 11, 25, 10), date(2026, 11, 27)),  # Wednesday morning: Friday
        (almaty(2026, 11, 27, 16), date(2026, 12, 1)),  # Friday: over the weekend
        (almaty(2026, 11, 27, 20), date(2026, 12, 2)),  # Friday night counts from Monday
    ],
)
async def test_hearing_window_is_working_days_after_the_refusal(
    services: Services, clock: FrozenClock, refused_at: datetime, until: date
) -> None:
    clock.set(refused_at)
    case_id, _, _ = await heard_case(services, next_chat_id())

    stored = await get_case_row(services, case_id)
    assert stored.hearing_until is not None
    assert stored.hearing_until.astimezone(ALMATY).date() == until


async def test_position_only_from_the_own_guardian_once_then_final_decision(
    services: Services, clock: FrozenClock
) -> None:
    staff_chat = next_chat_id()
    case_id, guardian, staff = await heard_case(services, staff_chat)
    stranger = Actor(telegram_user_id=next_chat_id(), chat_id=1, origin="u2")

    with pytest.raises(DomainError) as refused:
        await hearing.state_position(services.deciding, stranger, case_id, POSITION)
    assert refused.value.text_key == "error.not_your_case"
    with pytest.raises(DomainError) as short:
        await hearing.state_position(services.deciding, guardian, case_id, " x ")
    assert short.value.text_key == "hearing.position_bad"
    with pytest.raises(Conflict) as early:
        await decisions.accept(services.deciding, case_id, staff)
    assert early.value.text_key == "hearing_open"
    async with services.sessions() as session:
        assert await hearing.open_hearing(session, guardian) == case_id

    await hearing.state_position(services.deciding, guardian, case_id, POSITION)
    with pytest.raises(DomainError) as twice:
        await hearing.state_position(services.deciding, guardian, case_id, None)
    assert twice.value.text_key == "hearing.already_answered"
    [told] = await outbox(services, kind=Kind.SCHOOL_HEARING, case_id=case_id)
    assert told.recipient == str(staff_chat)
    assert POSITION in payload_of(services, told)["params"]["text"]

    # The window passing later changes nothing: the school was told already.
    stored = await get_case_row(services, case_id)
    assert stored.hearing_until is not None
    clock.set(stored.hearing_until + timedelta(hours=1))
    assert await run_hearing_lapses(services) == 0
    result = await decisions.accept(services.deciding, case_id, staff)
    assert result.status is CaseStatus.ACCEPTED


async def test_two_final_refusals_at_once_store_one_document(
    services: Services, clock: FrozenClock
) -> None:
    case_id, _, staff = await heard_case(services, next_chat_id())
    stored = await get_case_row(services, case_id)
    assert stored.hearing_until is not None
    clock.set(stored.hearing_until)
    assert await run_hearing_lapses(services) == 1
    assert await run_hearing_lapses(services) == 0

    outcomes = await asyncio.gather(
        decisions.refuse(services.deciding, case_id, staff, 2, REASON),
        decisions.refuse(
            services.deciding, case_id, staff, 1, "Деректер дұрыс емес екені анықталды"
        ),
        return_exceptions=True,
    )

    done = [o for o in outcomes if isinstance(o, decisions.DecisionResult)]
    assert len(done) == 1, outcomes
    assert [type(o) for o in outcomes if not isinstance(o, decisions.DecisionResult)] == [Conflict]
    async with services.sessions() as session:
        kinds = (
            await session.scalars(select(Document.kind).where(Document.case_id == case_id))
        ).all()
    assert list(kinds) == ["refusal"]
    final = await get_case_row(services, case_id)
    assert (final.status, final.refusal_ground) == (CaseStatus.REFUSED.value, done[0].ground)
    assert len(await outbox(services, kind=Kind.RESULT, case_id=case_id)) == 3


async def test_hearing_in_time_is_no_overdue_no_deadline_reminder_no_breach(
    services: Services, clock: FrozenClock
) -> None:
    """A preliminary refusal answers the school's term: the hearing after it does not make
    the case overdue, the deadline reminder is not sent, and no breach is counted; a
    preliminary refusal after the deadline (from `overdue`) is a breach."""
    in_time, _, _ = await heard_case(services, next_chat_id())
    late_school = await add_school(services, staff_chats=(next_chat_id(),))
    late = await open_case(services, school=late_school, chat_id=next_chat_id(), lang="kk")
    deadline = clock.now() + timedelta(hours=2)
    await mark_forwarded(services, late, deadline)
    await update_case(services, in_time, deadline_at=deadline)

    clock.set(deadline - timedelta(hours=1))
    assert await run_school_reminders(services) == 1  # only the case still with the school
    clock.set(deadline + timedelta(minutes=1))
    assert await run_overdue_cases(services) == 1  # the same one
    staff = SchoolActor(school_id=late_school.id, label="api:test")
    assert (
        await decisions.refuse(services.deciding, late, staff, 1, REASON)
    ).status is CaseStatus.HEARING

    statuses = [(await get_case_row(services, c)).status for c in (in_time, late)]
    assert statuses == [CaseStatus.HEARING.value, CaseStatus.HEARING.value]
    async with services.sessions() as session:
        await services.metrics.refresh(session, clock.now())
    breaches = services.metrics.registry.get_sample_value("homeschool_deadline_breaches")
    assert breaches == 1
    [reminder] = await outbox(services, kind=Kind.SCHOOL_REMINDER)
    assert reminder.case_id == late


async def test_hearing_reminder_on_the_last_morning_once_unless_answered(
    services: Services, clock: FrozenClock
) -> None:
    silent, _, _ = await heard_case(services, next_chat_id())
    answered, guardian, _ = await heard_case(services, next_chat_id())
    await hearing.state_position(services.deciding, guardian, answered, None)

    clock.set(almaty(2026, 11, 27, 8, 59))  # the window ends on Friday 27 Nov
    assert await run_hearing_reminders(services) == 0
    clock.set(almaty(2026, 11, 27, 9, 0))
    assert await run_hearing_reminders(services) == 1
    assert await run_hearing_reminders(services) == 0

    [reminder] = await outbox(services, kind=Kind.REMINDER)
    assert (reminder.case_id, reminder.dedupe_key) == (silent, f"hearing_reminder:{silent}")
    payload = payload_of(services, reminder)
    assert "соңғы күні — бүгін" in payload["params"]["text"]
    [[choice]] = payload["choices"]
    assert choice == {
        "label": "✅ Қарсылығым жоқ", "act": "no_objections", "case_id": silent, "value": None
    }  # fmt: skip
    assert (await get_case_row(services, silent)).hearing_reminded_at == clock.now()


async def test_revocation_during_the_hearing_cancels_and_ends_it(
    services: Services, clock: FrozenClock
) -> None:
    case_id, guardian, staff = await heard_case(services, next_chat_id())
    signal_id = (await get_case_row(services, case_id)).signal_id

    assert (
        await revoke_signal(
            services.sessions, services.cipher, services.clock, services.texts, signal_id
        )
    ).status is CaseStatus.CANCELLED

    async with services.sessions() as session:
        assert await hearing.open_hearing(session, guardian) is None
    with pytest.raises(DomainError) as stale:
        await hearing.state_position(services.deciding, guardian, case_id, POSITION)
    assert stale.value.text_key == "error.stale_button"
    clock.advance(timedelta(days=7))
    assert await run_hearing_lapses(services) == 0
    with pytest.raises(Conflict) as decided:
        await decisions.refuse(services.deciding, case_id, staff, 2, REASON)
    assert decided.value.text_key == "staff.already_decided"
