"""Random sequences of real events never corrupt a case or its audit trail.

Hypothesis drives the production services on a real SQLite file: signals, guardians
linking, deliveries, consent buttons (pressed by the owner, by another guardian and by
a stranger), form answers, school decisions by API key and in staff chats (own school
and another one), revocations and clock ticks that run every scheduler job. After each
step the stored state must still make sense:

- every status is a CaseStatus, reached only through `ALLOWED`: the audit trail starts
  with the signal at `received` and replays, transition by transition, to the status;
- the trail only grows (earlier rows never change or vanish);
- a closed case never changes status again;
- nothing reaches the school without the guardian's consent; only closed cases purged;
- every refusal is a DomainError (NotFound and Conflict included), never another
  exception, and a press on someone else's case is refused as such.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from bot.clock import FrozenClock
from bot.domain.calendar import load_calendar
from bot.domain.status import DECIDABLE_STATUSES, FINAL_STATUSES, CaseEvent, CaseStatus
from bot.domain.transitions import ALLOWED
from bot.errors import Conflict, DomainError, NotFound
from bot.runtime import Services, session_factory
from bot.usecases import consent, decisions, hearing, staff
from bot.usecases.access import Actor
from bot.usecases.hearing import HEARING_OPEN
from bot.usecases.revocation import revoke_signal
from scheduler.jobs import (
    run_expire_cases,
    run_guardian_reminders,
    run_hearing_lapses,
    run_hearing_reminders,
    run_overdue_cases,
    run_purge_personal_data,
    run_school_reminders,
)
from storage.crypto import DataCipher
from storage.migrate import upgrade_to_head
from storage.models import AuditEvent, Case, ConsentRecord, OutboxMessage
from storage.outbox import Kind
from storage.session import create_engine
from tests.conftest import ALMATY, DATA_KEY, TEXTS, make_settings
from tests.security.flow import (
    Person,
    SchoolSetup,
    actor,
    answer_address,
    confirm,
    deliver_due,
    link_guardian,
    make_person,
    open_signal,
    school_with_inboxes,
)

T = TypeVar("T")
USERS = (8_001, 8_002, 8_003)  # guardians 0 and 1 are linked at the start, 2 by a rule
STRANGER = 8_999
MAX_CASES = 3  # few cases per run, so one case meets many events
Press = Callable[[Services, Actor, str], Coroutine[Any, Any, object]]
PRESSES: dict[str, Press] = {
    "agree": lambda s, a, c: consent.agree(s, a, c, 1),
    "decline": lambda s, a, c: consent.decline(s, a, c, 1),
    "again": lambda s, a, c: consent.ask_again(s, a, c),
    "address": lambda s, a, c: answer_address(s, a, c, "г. Алматы, ул. Сатпаева 22, кв. 5"),
    "confirm": lambda s, a, c: confirm(s, a, c),
    "position": lambda s, a, c: hearing.state_position(
        s.deciding, a, c, "Не согласна с причиной отказа"
    ),
    "no_objections": lambda s, a, c: hearing.state_position(s.deciding, a, c, None),
}
JOBS = (
    run_guardian_reminders,
    run_expire_cases,
    run_school_reminders,
    run_overdue_cases,
    run_hearing_reminders,
    run_hearing_lapses,
    run_purge_personal_data,
)
TICKS = [timedelta(hours=h) for h in (1, 3, 20, 50, 24 * 8, 24 * 400)]


class CaseLifecycle(RuleBasedStateMachine):
    template: ClassVar[Path]
    log: ClassVar[pytest.LogCaptureFixture]

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.path = self.template.with_name(f"sm-{uuid.uuid4().hex}.db")
        shutil.copy(self.template, self.path)
        url = f"sqlite+aiosqlite:///{self.path}"
        engine = create_engine(url)
        wakeup = asyncio.Event()
        self.svc = Services(
            settings=make_settings(url),
            engine=engine,
            sessions=session_factory(engine, wakeup),
            cipher=DataCipher([DATA_KEY]),
            clock=FrozenClock(datetime(2026, 11, 25, 5, 0, tzinfo=UTC), ALMATY),
            calendar=load_calendar(ALMATY),
            texts=TEXTS,
            outbox_wakeup=wakeup,
        )
        self.people: list[Person] = [make_person(f"SM{n}") for n in range(3)]
        self.linked = [True, True, False]
        self.schools: list[SchoolSetup] = [self.run(school_with_inboxes(self.svc)) for _ in "ab"]
        for n in (0, 1):
            self.run(link_guardian(self.svc, self.people[n], USERS[n]))
        self.cases: list[tuple[str, str, int, int]] = []  # id, signal id, guardian, school
        self.closed: dict[str, CaseStatus] = {}
        self.trails: dict[str, list[int]] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def teardown(self) -> None:
        self.run(self.svc.engine.dispose())
        self.runner.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def pick(self, index: int) -> tuple[str, str, int, int]:
        return self.cases[index % len(self.cases)]

    def status(self, case_id: str) -> CaseStatus:
        async def read() -> str:
            async with self.svc.sessions() as session:
                return str(await session.scalar(select(Case.status).where(Case.id == case_id)))

        return CaseStatus(self.run(read()))

    # --- events -----------------------------------------------------------------------------

    @precondition(lambda self: len(self.cases) < MAX_CASES)
    @rule(guardian=st.integers(0, 2), school=st.integers(0, 1))
    def signal(self, guardian: int, school: int) -> None:
        signal_id = f"SM-{uuid.uuid4().hex[:12]}"
        case_id = self.run(
            open_signal(
                self.svc, self.people[guardian], self.schools[school].school, signal_id=signal_id
            )
        )
        self.cases.append((case_id, signal_id, guardian, school))

    @rule()
    def guardian_links_chat(self) -> None:
        self.run(link_guardian(self.svc, self.people[2], USERS[2]))
        self.linked[2] = True

    @rule()
    def dispatcher_sends(self) -> None:
        self.run(deliver_due(self.svc))

    def user_for(self, owner: int, who: str) -> tuple[int, bool]:
        """The presser's Telegram id, and whether that user owns the case."""
        if who == "owner":
            return USERS[owner], self.linked[owner]
        if who == "other":
            return USERS[0 if owner == 1 else 1], False
        return STRANGER, False

    def press(self, case_id: str, user: int, is_owner: bool, press: str) -> None:
        try:
            self.run(PRESSES[press](self.svc, actor(user), case_id))
        except DomainError as exc:
            assert (exc.text_key == "error.not_your_case") is not is_owner, exc.text_key
            return
        assert is_owner, f"{press} by user {user} on another guardian's case went through"

    @precondition(lambda self: self.cases)
    @rule(
        case=st.integers(0, MAX_CASES - 1),
        who=st.sampled_from(["owner", "owner", "other", "stranger"]),
        press=st.sampled_from(list(PRESSES)),
    )
    def guardian_presses(self, case: int, who: str, press: str) -> None:
        case_id, _, owner, _ = self.pick(case)
        self.press(case_id, *self.user_for(owner, who), press)

    @precondition(lambda self: self.cases)
    @rule(case=st.integers(0, MAX_CASES - 1))
    def owner_takes_the_next_step(self, case: int) -> None:
        """What a willing guardian does next: consent, then the address, then confirm."""
        case_id, _, owner, _ = self.pick(case)
        user, is_owner = self.user_for(owner, "owner")
        status = self.status(case_id)
        steps = {
            CaseStatus.NOTIFIED: ["agree"],
            CaseStatus.DECLINED: ["again", "agree"],
            CaseStatus.CONSENTED: ["address", "confirm"],
            CaseStatus.HEARING: ["position"],
        }
        for press in steps.get(status, ["agree"]):
            self.press(case_id, user, is_owner, press)
        self.run(deliver_due(self.svc))  # the dispatcher answers at once

    @precondition(lambda self: self.cases)
    @rule(
        case=st.integers(0, MAX_CASES - 1),
        which=st.sampled_from(["own", "own", "own", "other"]),
        accept=st.booleans(),
    )
    def school_api_decides(self, case: int, which: str, accept: bool) -> None:
        case_id, _, _, own = self.pick(case)
        school = own if which == "own" else 1 - own
        before = self.status(case_id)
        school_actor = self.schools[school].actor
        decide = (
            decisions.accept(self.svc.deciding, case_id, school_actor)
            if accept
            else decisions.refuse(
                self.svc.deciding, case_id, school_actor, 2, "Неполный пакет документов"
            )
        )
        try:
            self.run(decide)
        except NotFound:
            assert school != own
            return
        except Conflict as exc:
            assert school == own
            if exc.text_key == HEARING_OPEN:
                assert before is CaseStatus.HEARING
            else:
                assert before not in DECIDABLE_STATUSES
            return
        assert school == own and before in DECIDABLE_STATUSES

    @precondition(lambda self: self.cases)
    @rule(case=st.integers(0, MAX_CASES - 1), chat=st.integers(0, 1))
    def staff_chat_accepts(self, case: int, chat: int) -> None:
        case_id, _, _, own = self.pick(case)
        staff_actor = Actor(8_500, self.schools[chat].staff_chat_id, f"s{uuid.uuid4().hex}")
        try:
            self.run(staff.accept_in_chat(self.svc.deciding, staff_actor, case_id))
        except DomainError as exc:
            if chat != own:
                assert exc.text_key == "staff.not_your_school"
            return
        assert chat == own

    @precondition(lambda self: self.cases)
    @rule(case=st.integers(0, MAX_CASES - 1))
    def health_system_revokes(self, case: int) -> None:
        case_id, signal_id, _, _ = self.pick(case)
        before, svc = self.status(case_id), self.svc
        try:
            result = self.run(
                revoke_signal(svc.sessions, svc.cipher, svc.clock, svc.texts, signal_id)
            )
        except Conflict:
            assert before in FINAL_STATUSES - {CaseStatus.CANCELLED}
            return
        assert result.status is CaseStatus.CANCELLED

    @rule(step=st.sampled_from(TICKS))
    def time_passes(self, step: timedelta) -> None:
        self.svc.clock.advance(step)  # type: ignore[attr-defined]
        for job in JOBS:
            self.run(job(self.svc))
        self.run(deliver_due(self.svc))

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def stored_state_is_consistent(self) -> None:
        # Jobs log a failing item and carry on: such a record is a failure here.
        assert [r.getMessage() for r in self.log.records if r.levelno >= logging.ERROR] == []
        cases, trails, consented, packaged = self.run(self.stored())
        for case in cases:
            status = CaseStatus(case.status)
            trail = trails.get(case.id, [])
            assert replay(trail) is status, [(e.event, e.from_status, e.to_status) for e in trail]
            ids = [event.id for event in trail]
            assert ids[: len(self.trails.get(case.id, []))] == self.trails.get(case.id, [])
            self.trails[case.id] = ids
            if case.id in self.closed:
                assert status is self.closed[case.id]
            if status in FINAL_STATUSES:
                self.closed[case.id] = status
            assert case.purged_at is None or status in FINAL_STATUSES
        assert packaged <= consented

    async def stored(
        self,
    ) -> tuple[list[Case], dict[str, list[AuditEvent]], set[str], set[str | None]]:
        async with self.svc.sessions() as session:
            cases = list((await session.scalars(select(Case))).all())
            events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
            agreed = select(ConsentRecord.case_id).where(ConsentRecord.choice == "agree")
            consented = set(await session.scalars(agreed))
            package = OutboxMessage.kind == Kind.SCHOOL_PACKAGE.value
            packaged = set(await session.scalars(select(OutboxMessage.case_id).where(package)))
        trails: dict[str, list[AuditEvent]] = {}
        for event in events:
            if event.case_id is not None:
                trails.setdefault(event.case_id, []).append(event)
        return cases, trails, consented, packaged


def replay(trail: list[AuditEvent]) -> CaseStatus:
    """The status the audit trail leads to, checking every step against `ALLOWED`."""
    transitions = [e for e in trail if e.to_status is not None]
    assert transitions, "a case without its opening audit event"
    first = transitions[0]
    opening = (first.event, first.from_status, first.to_status)
    assert opening == ("signal_received", None, "received")
    status = CaseStatus.RECEIVED
    for event in transitions[1:]:
        assert event.from_status == status.value, f"{event.event} from {event.from_status}"
        assert ALLOWED[(status, CaseEvent(event.event))].value == event.to_status
        status = CaseStatus(event.to_status)
    return status


def test_case_lifecycle_random_event_sequences_keep_every_invariant(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    template = tmp_path / "template.db"

    async def migrate() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{template}")
        await upgrade_to_head(engine)
        await engine.dispose()

    asyncio.run(migrate())
    CaseLifecycle.template, CaseLifecycle.log = template, caplog
    run_state_machine_as_test(
        CaseLifecycle, settings=settings(max_examples=30, stateful_step_count=20, deadline=None)
    )
