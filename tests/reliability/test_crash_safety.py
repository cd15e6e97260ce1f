"""SIGKILL `homeschool-bot run` with work under way; after a restart nothing is lost.

Per database, one `bot run` subprocess talks to this test's Telegram emulator over real
HTTP on loopback. It is killed with SIGKILL once, while four things are under way:

(a) a signal was accepted (202) just after the burst's: its notice is claimed (leased
    for a minute) and queued behind the burst, not tried yet (Telegram would answer 500);
(b) a guardian is in the middle of the form: grade chosen, the FSM (in SQL) at the address;
(c) the dispatcher is sending a burst of notices to 45 linked guardians (killed when a
    third arrived) while a health system keeps posting signals;
(d) a school decided and the guardian's receipt is not delivered yet: Telegram has
    answered 502 to it, and does to every sendDocument to that chat until the kill.

Then Telegram stops failing and the process starts again with the same environment.
Each test checks one of the four: every accepted signal has its case, the conversation
goes on where it was, every outbox row ends `sent`, and the emulator counts what each
guardian received. The only repeats allowed are burst notices Telegram accepted in the
last moments before the kill, before their outcome was committed: Telegram has no
idempotency key, so delivery is at least once, and the window is the dispatcher's
`commit_linger_s` plus a commit.

The processes run on the real clock in a zone where it is midday (`midday_zone`), since
proactive notices wait for daytime.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp
import pytest
import pytest_asyncio
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import select

from bot.delivery.dispatcher import OutboxDispatcher
from bot.emulator import ApiCall, TelegramEmulator, UserHandle
from bot.runtime import Services
from bot.usecases.schools import issue_school_api_key
from handlers.telegram.guardian.states import Form
from storage.fsm import SqlStorage
from storage.models import Case, OutboxMessage
from tests.conftest import DATA_KEY, SIGNAL_SECRET
from tests.e2e.harness import (
    TOKEN,
    Stack,
    eventually,
    fragment,
    linked_guardian,
    load_case,
    next_document,
    pdf_words,
    post_decision,
    post_payload,
    shown,
    signal_for,
    submit_case,
    wait_for_status,
)
from tests.factories import signal_payload
from tests.process import BotProcess, clean_env, free_port, fresh_postgres_database, midday_zone
from tests.reliability.sends import accepted_sends

# The module's tests must run in a row on one worker (`--dist loadfile`, pyproject.toml):
# its emulator lives in the module's event loop, which runs only while one of these
# tests does; a test of another file in between would starve the bot that talks to it.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

BURST = 45
KILL_AFTER = BURST // 3
FOREVER = 10_000  # injected failures: every attempt until the test clears them
GRADE = 5
ADDRESS = "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10"
# The application prints it in annex 2's order: locality, district, city, region.
ADDRESS_IN_ANNEX_ORDER = "Абай к-сі, 10, Қарасай ауданы, Қаскелең қ., Алматы облысы"
ACCEPT = {"decision": "accepted"}
# One wait for the bot while ~50 chats share Telegram's 30 messages a second; a safety
# net, not a latency goal.
PATIENCE_S = 30.0
# A killed sender leaves a 60 s lease on the rows it had claimed. The restarted process
# must finish them well before that: orphan recovery makes them due after 5 s.
RECOVERY_S = 30.0
# A message Telegram accepted is recorded `sent` once the dispatcher's outcome recorder
# commits it: `commit_linger_s` later plus one transaction. Only a message accepted that
# close to the kill may come twice. On a quiet machine the transaction adds a few ms; a
# 2-core machine running other `bot run` processes has delayed it by almost half a second.
COMMIT_LINGER_S = float(inspect.signature(OutboxDispatcher).parameters["commit_linger_s"].default)
DUPLICATE_WINDOW_S = COMMIT_LINGER_S + 1.0
TRICKLE_PAUSE_S = 0.05


@dataclass(frozen=True)
class Guardian:
    user: UserHandle
    case_id: str


@dataclass(frozen=True)
class OutboxRow:
    case_id: str | None
    kind: str
    status: str


@dataclass
class Crash:
    """What was under way at the kill, and when (time.monotonic, the emulator's clock)."""

    stack: Stack
    process: BotProcess
    awaiting_notice: Guardian  # (a)
    mid_form: Guardian  # (b)
    burst: list[Guardian]  # (c)
    awaiting_receipt: Guardian  # (d)
    school_key: str
    accepted: list[str]  # case ids of every signal answered 202 before the kill
    outbox_at_kill: list[OutboxRow]  # every outbox row just after the kill
    killed_at: float
    restarting_at: float = 0.0  # nothing Telegram accepted before this came from the new process
    restarted_at: float = 0.0  # healthy again

    def status_at_kill(self, case_id: str, kind: str) -> str:
        [status] = [r.status for r in self.outbox_at_kill if (r.case_id, r.kind) == (case_id, kind)]
        return status


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def crash(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Crash]:
    """The process, killed once with all four under way and started again."""
    folder = tmp_path_factory.mktemp(f"crash-{request.param}")
    async with AsyncExitStack() as exits:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{folder / 'crash.db'}"
        else:
            url = (await exits.enter_async_context(fresh_postgres_database("hsb_crash"))).url
        emu = await exits.enter_async_context(TelegramEmulator(token=TOKEN))
        env = clean_env(
            DATABASE_URL=url,
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=str(emu.base_url),
            HTTP_PORT=str(free_port()),
            SIGNAL_SECRETS=SIGNAL_SECRET.decode(),
            DATA_KEY=DATA_KEY,
            TIMEZONE=midday_zone(),
        )
        process = exits.enter_context(BotProcess(folder, env))
        await process.start()
        app = await exits.enter_async_context(process.seen_from_test())
        http = await exits.enter_async_context(aiohttp.ClientSession())
        crashed = await kill_with_work_under_way(Stack(emu, app, http, PATIENCE_S), process)
        crashed.restarting_at = time.monotonic()
        await process.start()  # again: same environment, database and port
        crashed.restarted_at = time.monotonic()
        yield crashed
        code = await asyncio.to_thread(process.stop)
    output = process.output()
    assert code == 0 and "Traceback" not in output, process.output_tail()


async def kill_with_work_under_way(stack: Stack, process: BotProcess) -> Crash:
    """Set (a)-(d) under way, SIGKILL the process, then let Telegram deliver again."""
    emu = stack.emu
    inbox = emu.group(chat_id=-1001000000901, title="№ 12 мектеп")
    school = await stack.add_school(telegram_chat_id=inbox.id)
    key = (await issue_school_api_key(stack.app.svc, school)).key
    mid_form, decided, (waiting, *burst_users) = await asyncio.gather(
        stop_at_the_address(stack, school),
        submit_case(stack, school),
        asyncio.gather(*(linked_guardian(stack) for _ in range(BURST + 1))),
    )
    await wait_for_status(stack, decided.case_id, "forwarded", timeout=PATIENCE_S)

    receipt = Guardian(decided.guardian, decided.case_id)
    emu.fail_next("sendDocument", times=FOREVER, error_code=502, chat_id=receipt.user.chat_id)
    status, answer = await post_decision(stack, decided.case_id, ACCEPT, key=key)
    assert status == 200, answer
    await emu.wait_until(lambda: bool(refused(emu, receipt.user.chat_id)), timeout=PATIENCE_S)

    accepted: list[str] = []
    trickle = asyncio.create_task(post_until_refused(stack, accepted))
    burst = [
        Guardian(user, str(created["case_id"]))
        for user, created in zip(
            burst_users,
            await asyncio.gather(*(signal_for(stack, user) for user in burst_users)),
            strict=True,
        )
    ]
    accepted += [guardian.case_id for guardian in burst]
    emu.fail_next("sendMessage", times=FOREVER, error_code=500, chat_id=waiting.chat_id)
    notice = Guardian(waiting, str((await signal_for(stack, waiting))["case_id"]))
    accepted.append(notice.case_id)

    async def claimed() -> bool:  # and queued behind the burst, about a second of sending
        return OutboxRow(notice.case_id, "notice", "sending") in await outbox_rows(stack.app.svc)

    await eventually(claimed, timeout=PATIENCE_S, what="the notice claimed")
    chats = {guardian.user.chat_id for guardian in burst}
    question = kk(stack, "consent.question")
    await emu.wait_until(
        lambda: (
            len({m.chat_id for m in emu.state.sent if question in (m.text or "")} & chats)
            >= KILL_AFTER
        ),
        timeout=PATIENCE_S,
        recheck=None,
    )
    killed_at = process.kill()
    await trickle
    emu.state.faults.clear()
    return Crash(
        stack=stack,
        process=process,
        awaiting_notice=notice,
        mid_form=mid_form,
        burst=burst,
        awaiting_receipt=receipt,
        school_key=key,
        accepted=accepted,
        outbox_at_kill=await outbox_rows(stack.app.svc),
        killed_at=killed_at,
    )


async def stop_at_the_address(stack: Stack, school: str) -> Guardian:
    """(b): consent given and grade chosen; the bot has asked for the address."""
    user = await linked_guardian(stack)
    payload = signal_payload(guardian={"phone": user.user.phone, "iin": None})
    payload["school"] = {"bin": school}  # no grade: the form asks for it
    case_id = str((await post_payload(stack, payload))["case_id"])
    await stack.next_message(user.chat_id, kk(stack, "consent.question"))
    await wait_for_status(stack, case_id, "notified", timeout=PATIENCE_S)
    await user.press(kk(stack, "consent.agree_button"))
    await stack.next_message(user.chat_id, kk(stack, "form.ask_grade"))
    await user.press(kk(stack, "form.grade_button", grade=GRADE))
    await stack.next_message(user.chat_id, kk(stack, "form.ask_address"))

    async def at_address() -> bool:
        return await fsm_state(stack, user) == Form.address.state

    # The question is queued before the handler stores the step: kill after both.
    await eventually(at_address, timeout=PATIENCE_S, what="FSM at the address step")
    return Guardian(user, case_id)


async def post_until_refused(stack: Stack, accepted: list[str]) -> None:
    """A health system posting signals (guardians not linked yet) until the process dies."""
    while True:
        try:
            created = await stack.post_signal()
        except aiohttp.ClientError:
            return
        accepted.append(str(created["case_id"]))
        await asyncio.sleep(TRICKLE_PAUSE_S)


def kk(stack: Stack, key: str, **params: object) -> str:
    return shown(stack, "kk", key, **params)


def refused(emu: TelegramEmulator, chat_id: int) -> list[ApiCall]:
    """The sends to this chat that Telegram answered with an (injected) error."""
    return [c for c in emu.calls if not c.ok and str(c.params.get("chat_id")) == str(chat_id)]


def notices(stack: Stack, chat_id: int) -> list[ApiCall]:
    """The notices Telegram accepted for a chat, each with the time it accepted it."""
    question = kk(stack, "consent.question")
    return [
        call
        for call in accepted_sends(stack.emu)
        if call.result["chat"]["id"] == chat_id and question in call.result.get("text", "")
    ]


async def fsm_state(stack: Stack, user: UserHandle) -> str | None:
    """The guardian's conversation state as the process stored it."""
    svc = stack.app.svc
    storage = SqlStorage(svc.sessions, svc.cipher, svc.clock.now)
    bot_id = int(TOKEN.partition(":")[0])
    return await storage.get_state(StorageKey(bot_id, user.chat_id, user.id))


async def outbox_rows(svc: Services) -> list[OutboxRow]:
    query = select(OutboxMessage.case_id, OutboxMessage.kind, OutboxMessage.status)
    async with svc.sessions() as session:
        return [OutboxRow(*row) for row in await session.execute(query)]


async def all_delivered(crash: Crash) -> None:
    """Wait until every outbox row is `sent` (none pending, retrying, sending or dead)."""

    async def drained() -> bool:
        return {row.status for row in await outbox_rows(crash.stack.app.svc)} == {"sent"}

    await eventually(drained, timeout=RECOVERY_S, what="every outbox row sent")


# -- (a) --------------------------------------------------------------------------------
async def test_signal_accepted_before_the_kill_gets_its_notice_exactly_once(
    crash: Crash,
) -> None:
    stack, guardian = crash.stack, crash.awaiting_notice
    await all_delivered(crash)

    case = await load_case(stack, guardian.case_id)
    sent = notices(stack, guardian.user.chat_id)

    assert crash.status_at_kill(guardian.case_id, "notice") == "sending"
    assert refused(stack.emu, guardian.user.chat_id) == []  # never tried before the kill
    assert len(sent) == 1, sent
    assert crash.killed_at < sent[0].at < crash.restarted_at + RECOVERY_S
    assert case.status == "notified"


# -- (b) --------------------------------------------------------------------------------
async def test_guardian_mid_form_goes_on_where_the_conversation_was(crash: Crash) -> None:
    stack, guardian = crash.stack, crash.mid_form
    chat = guardian.user.chat_id
    assert await fsm_state(stack, guardian.user) == Form.address.state

    await guardian.user.send_text(ADDRESS)
    summary = await stack.next_message(chat, fragment(stack, "kk", "form.summary"))
    await guardian.user.press(kk(stack, "form.confirm_button"), summary)
    copy = await next_document(stack, chat, timeout=PATIENCE_S)
    await wait_for_status(stack, guardian.case_id, "forwarded", timeout=PATIENCE_S)
    await all_delivered(crash)

    assert f"Мекенжай: {ADDRESS}" in (summary.text or "")
    assert f"Сынып: {GRADE}" in (summary.text or "")
    assert copy.document is not None and ADDRESS_IN_ANNEX_ORDER in pdf_words(copy.document)
    texts = [m.text or m.caption or "" for m in stack.emu.sent(chat)]
    assert kk(stack, "form.nothing_to_answer") not in texts
    assert kk(stack, "error.generic") not in texts
    assert len(set(texts)) == len(texts), texts  # nothing asked or said twice


# -- (c) --------------------------------------------------------------------------------
async def test_burst_cut_by_the_kill_reaches_everyone_repeating_only_unrecorded_sends(
    crash: Crash,
) -> None:
    stack = crash.stack
    await all_delivered(crash)

    copies = {g.user.chat_id: notices(stack, g.user.chat_id) for g in crash.burst}
    before = {chat for chat, calls in copies.items() if calls and calls[0].at < crash.restarting_at}
    recorded = {
        g.user.chat_id for g in crash.burst if crash.status_at_kill(g.case_id, "notice") == "sent"
    }
    repeated = {chat: calls for chat, calls in copies.items() if len(calls) > 1}
    ages = sorted(round(crash.killed_at - calls[0].at, 3) for calls in repeated.values())
    last = max(calls[-1].at for calls in copies.values())
    at_kill = Counter(row.status for row in crash.outbox_at_kill)
    async with stack.app.svc.sessions() as session:
        query = select(Case.id, Case.status).where(Case.id.in_(crash.accepted))
        cases: dict[str, str] = {
            case_id: status for case_id, status in await session.execute(query)
        }
    print(  # noqa: T201 - the figures of the run, shown with -s
        f"\ncrash: {len(before)} of {BURST} burst notices accepted before the kill, "
        f"{len(recorded)} of them recorded; {len(repeated)} sent twice, first copies {ages} s "
        f"before the kill; burst done {last - crash.restarted_at:.1f} s after the restart; "
        f"{len(crash.accepted)} signals accepted; outbox at kill {dict(at_kill)}; "
        f"(a) {crash.status_at_kill(crash.awaiting_notice.case_id, 'notice')}, "
        f"(d) {crash.status_at_kill(crash.awaiting_receipt.case_id, 'result')}"
    )
    assert KILL_AFTER <= len(before) < BURST
    assert at_kill["sending"] > 0  # the kill cut claimed rows off
    assert all(copies.values()), [chat for chat, calls in copies.items() if not calls]
    # At least once: a send Telegram accepted but whose outcome the kill lost goes again;
    # nothing recorded `sent` does, and nothing goes a third time.
    assert set(repeated) == before - recorded
    assert all(len(calls) == 2 for calls in repeated.values())
    assert all(age <= DUPLICATE_WINDOW_S for age in ages), ages
    assert last - crash.restarted_at < RECOVERY_S
    assert len(set(crash.accepted)) == len(crash.accepted) > BURST + 1
    assert sorted(cases) == sorted(crash.accepted)
    assert {cases[g.case_id] for g in crash.burst} == {"notified"}


# -- (d) --------------------------------------------------------------------------------
async def test_decision_before_the_kill_reaches_the_guardian_exactly_once(crash: Crash) -> None:
    stack, guardian = crash.stack, crash.awaiting_receipt
    chat = guardian.user.chat_id
    await all_delivered(crash)

    receipts = [c for c in accepted_sends(stack.emu) if c.method == "sendDocument"]
    to_guardian = [c for c in receipts if c.result["chat"]["id"] == chat]
    case = await load_case(stack, guardian.case_id)
    again = await post_decision(stack, guardian.case_id, ACCEPT, key=crash.school_key)

    refusals = [c.at for c in refused(stack.emu, chat)]
    assert refusals and max(refusals) < crash.killed_at  # tried and refused, all before the kill
    assert len(to_guardian) == 2  # the application copy before the kill, the receipt after
    copy, receipt = to_guardian
    assert copy.at < crash.killed_at < receipt.at < crash.restarted_at + RECOVERY_S
    assert case.status == "accepted" and case.registration_number is not None
    assert f"Тіркеу нөмірі: {case.registration_number}" in receipt.result["caption"]
    assert again[0] == 409
