"""Load: 2,000 signals in one burst from 50 concurrent clients against one `bot run`.

Every guardian opened the bot earlier, so each signal means a proactive notice in
Telegram. Asserted: every request is answered 202 (200 with the same case for the 200
signals a second client posts again at the same moment), each signal is one case, and
the notices leave at Telegram's rate without a single 429, none lost, none twice.

Draining 2,000 notices at 30 a second would take over a minute, too long for a test
suite. So the notices are watched at Telegram's real limit (30 a second, enforced by the
emulator) during the burst and for a few seconds after it; then the process is stopped
(SIGTERM) and the outbox must hold every other notice, unsent. On PostgreSQL the
process is then started again with TELEGRAM_RATE_PER_S raised to what this machine
sustains, the emulator enforcing the same limit, and the rest is drained: every notice
sent exactly once across the restart, never above the limit. The drain is given as
long as it makes progress: what it proves is that every notice leaves once and within
the limit, not how fast a machine shared with other work sends them, so it fails when
no notice is accepted for `DRAIN_STALL_S` (lost or stuck notices), not when a loaded
machine sends fewer than DRAIN_RATE a second. It runs on PostgreSQL, the
database of a deployment that expects such bursts; on SQLite the same burst passed
too (about 800 requests/s here), but the suite is kept short.

2,000 rather than the 10,000 this test once posted: every assertion holds per signal
(one case, one notice, the 200 of a repeat) or per second (the rate), and 2,000 from 50
clients still keep the intake saturated for the whole burst and queue some twenty
times what the sender can send meanwhile, so the outbox is deep at the stop and the
drain runs at the raised limit for seconds. 10,000 added four minutes of the same
checks on a 2-core machine; throughput itself is `benchmarks/intake.py`'s measure.

The process runs on the real clock in a zone where it is midday
(`tests.process.midday_zone`), since proactive notices wait for daytime.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from bot.emulator import Limit, RateLimits, TelegramEmulator
from bot.runtime import Services
from storage.models import Case, Guardian, OutboxMessage
from storage.outbox import Kind
from tests.conftest import DATA_KEY, SIGNAL_SECRET
from tests.factories import make_phone, signal_payload, signed
from tests.process import BotProcess, clean_env, free_port, fresh_postgres_database, midday_zone
from tests.reliability.sends import (
    accepted_sends,
    busiest_window,
    fresh_token,
    opened_earlier,
    rejections,
)
from tests.storage.case_setup import linked_guardian_row

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SIGNALS = 2_000
CLIENTS = 50
RESENT = 200  # signals a second client posts again while the first may still be in flight
REAL_RATE = 30
DRAIN_RATE = 250  # about what a 2-core machine sustains (~230 measured): it binds at peaks
DRAIN_STALL_S = 60.0  # the restart included: a loaded machine starts `run` in 5-15 s
WATCH_AFTER_BURST_S = 6.0
STALL_GAP_S = 2.0  # a sender waiting behind the intake shows as a pause in its sends
FIRST_CHAT = 760_000_001
REQUEST_TIMEOUT_S = 120.0  # a safety net: during the burst requests queue for seconds
Answer = tuple[str, int, dict[str, Any]]  # signal id, HTTP status, JSON body


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A PostgreSQL database of its own (skips without TEST_POSTGRES_URL)."""
    async with fresh_postgres_database("hsb_burst") as database:
        yield database.url


async def link_guardians(svc: Services, phones: Sequence[str]) -> list[int]:
    """Guardians who shared their phone in the bot earlier; returns their chat ids."""
    now = svc.clock.now()
    chats = list(range(FIRST_CHAT, FIRST_CHAT + len(phones)))
    rows = [
        linked_guardian_row(svc, phone, chat, "kk", now)
        for phone, chat in zip(phones, chats, strict=True)
    ]
    async with svc.sessions.begin() as session:
        await session.execute(insert(Guardian), rows)
    return chats


def burst_payloads(phones: Sequence[str]) -> list[dict[str, Any]]:
    """One signal per guardian; the first `RESENT` of them twice in a row, so that two
    clients take the same signal off the queue at the same moment."""
    payloads = [signal_payload(guardian={"phone": phone, "iin": None}) for phone in phones]
    twice = [p for pair in zip(payloads[:RESENT], payloads[:RESENT], strict=True) for p in pair]
    return twice + payloads[RESENT:]


async def post_all(base_url: str, payloads: Sequence[dict[str, Any]]) -> list[Answer]:
    """`CLIENTS` clients take signals off one queue, each posting one after another.
    Each is signed just before it is sent: a signature is valid for 300 s."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)
    answers: list[Answer] = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as http:
            while not queue.empty():
                payload = queue.get_nowait()
                body, headers = signed(payload, SIGNAL_SECRET, time.time())
                resp = await http.post("/api/v1/signals/vkk", content=body, headers=headers)
                answers.append((payload["signal_id"], resp.status_code, resp.json()))

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return answers


def longest_gap(times: Sequence[float]) -> float:
    """The longest time between two consecutive sends."""
    ordered = sorted(times)
    return max((b - a for a, b in pairwise(ordered)), default=0.0)


def rate(times: Sequence[float]) -> float:
    """Sends per second from the first send to the last."""
    return (len(times) - 1) / (max(times) - min(times))


async def stored(svc: Services) -> tuple[set[str], Counter[str]]:
    """Every case id, and the notices by outbox status."""
    async with svc.sessions() as session:
        cases = set((await session.scalars(select(Case.id))).all())
        notices = await session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.kind == Kind.NOTICE.value)
            .group_by(OutboxMessage.status)
        )
    return cases, Counter(dict(notices.all()))


def assert_one_case_per_signal(answers: list[Answer], cases: set[str]) -> None:
    assert Counter(status for _, status, _ in answers) == {202: SIGNALS, 200: RESENT}
    case_of: dict[str, set[str]] = {}
    for signal_id, status, answer in answers:
        assert answer["duplicate"] is (status == 200), answer
        case_of.setdefault(signal_id, set()).add(answer["case_id"])
    assert all(len(ids) == 1 for ids in case_of.values())
    assert cases == {case_id for ids in case_of.values() for case_id in ids}
    assert len(cases) == SIGNALS


@dataclass(frozen=True)
class Drained:
    exit_code: int
    notices: Counter[str]  # by outbox status


async def drain(emu: TelegramEmulator, process: BotProcess) -> Drained:
    """Start the stopped process again with the raised limit, the emulator enforcing the
    same, and wait until Telegram has accepted a notice for every signal."""
    emu.set_rate_limits(RateLimits(per_bot=Limit(DRAIN_RATE, 1.0)))
    process.env["TELEGRAM_RATE_PER_S"] = str(DRAIN_RATE)
    await process.start()
    await accepted_while_progressing(emu, SIGNALS, DRAIN_STALL_S)
    exit_code = await asyncio.to_thread(process.stop)
    async with process.seen_from_test() as app:
        _, notices = await stored(app.svc)
    return Drained(exit_code, notices)


async def accepted_while_progressing(emu: TelegramEmulator, total: int, stall_s: float) -> None:
    """Wait until Telegram accepted `total` messages, as long as one more comes at least
    every `stall_s` seconds; fail (with the count) when none does."""
    count, since = -1, time.monotonic()
    # `state.sent` holds what Telegram accepted: cheap to count.
    while (now_count := len(emu.state.sent)) < total:
        if now_count != count:
            count, since = now_count, time.monotonic()
        elif time.monotonic() - since > stall_s:
            raise AssertionError(f"{count} of {total} accepted, then none for {stall_s:.0f} s")
        await asyncio.sleep(0.5)


async def test_burst_of_2000_signals_makes_each_case_once_and_notices_keep_the_rate(
    database_url: str, tmp_path: Path
) -> None:
    token = fresh_token()
    phones = [make_phone(3_000_000 + n) for n in range(SIGNALS)]
    env = clean_env(
        DATABASE_URL=database_url,
        BOT_TOKEN=token,
        HTTP_PORT=str(free_port()),
        SIGNAL_SECRETS=SIGNAL_SECRET.decode(),
        DATA_KEY=DATA_KEY,
        TIMEZONE=midday_zone(),
        TELEGRAM_RATE_PER_S=str(REAL_RATE),
    )
    async with TelegramEmulator(token) as emu:
        with BotProcess(tmp_path, {**env, "TELEGRAM_API_URL": str(emu.base_url)}) as process:
            async with process.seen_from_test() as app:  # migrates the database
                chats = await link_guardians(app.svc, phones)
            for chat in chats:
                opened_earlier(emu, chat)
            await process.start()
            await emu.wait_until(lambda: bool(emu.calls_to("getUpdates")), timeout=60)
            started = time.monotonic()
            answers = await post_all(process.base_url, burst_payloads(phones))
            burst_end = time.monotonic()
            await asyncio.sleep(WATCH_AFTER_BURST_S)
            exit_code = await asyncio.to_thread(process.stop)
            at_real_rate = [c.at for c in accepted_sends(emu)]
            async with process.seen_from_test() as app:
                cases, notices = await stored(app.svc)
            drained = await drain(emu, process)
        sends = accepted_sends(emu)
        rejected = rejections(emu)
    during = [t for t in at_real_rate if t <= burst_end]
    after = [t for t in at_real_rate if t > burst_end]
    drain_times = [c.at for c in sends[len(at_real_rate) :]]

    print(  # noqa: T201 - the figures of the run, shown with -s
        f"\nburst: {len(answers)} requests in "
        f"{burst_end - started:.1f} s ({len(answers) / (burst_end - started):.0f}/s); notices "
        f"at {REAL_RATE}/s: {len(during)} during the burst ({rate(during):.1f}/s), "
        f"{len(after)} after ({rate(after):.1f}/s), busiest second "
        f"{busiest_window(at_real_rate)}; drained {len(drain_times)} at "
        f"{rate(drain_times):.1f}/s, busiest second {busiest_window(drain_times)}"
    )
    assert exit_code == 0, process.output_tail()
    assert "Traceback" not in process.output(), process.output_tail()
    assert_one_case_per_signal(answers, cases)
    assert rejected == []
    assert busiest_window(at_real_rate) <= REAL_RATE
    # The sender shares its event loop (and, here, two cores) with the intake: it must
    # never stall behind it, and keep at least half the rate it has right after.
    assert longest_gap(during) <= STALL_GAP_S
    assert rate(during) >= 0.5 * rate(after)
    assert rate(after) >= 0.9 * REAL_RATE
    assert notices == {"sent": len(at_real_rate), "pending": SIGNALS - len(at_real_rate)}
    assert len({c.params["chat_id"] for c in sends}) == len(sends)  # no chat got two notices
    assert {int(c.params["chat_id"]) for c in sends} <= set(chats)
    assert drained.exit_code == 0, process.output_tail()
    assert busiest_window(drain_times) <= DRAIN_RATE
    assert drained.notices == {"sent": SIGNALS}
    assert len(sends) == SIGNALS
