"""A backup taken while `run` serves a burst restores to a consistent, deliverable state.

Per database, one `bot run` subprocess talks to a Telegram emulator while guardians who
opened the bot earlier get a signal each, see the notice and tap "agree" (which asks the
first question of the form), and a health system keeps posting signals for guardians
who never opened the bot. When a third of the guardians have tapped, the backup is
taken: `homeschool-bot backup` on SQLite, `pg_dump` on PostgreSQL. The burst goes on to
its end, then that service stops.

The copy is restored (`homeschool-bot restore`, or `pg_restore` into a fresh database)
and checked: every case accepted before the backup began is there, every case's audit
trail leads step by step to its status, every notified guardian's case has its notice
and every consent its answer in the outbox. A new `run` starts on the restored database
with a Telegram of its own (the same guardians, none of the first service's messages),
and must deliver exactly the messages that were waiting in the copy, each once, and
nothing the copy records as sent. The figures are printed with `-s`.

The `backup` command is started before the burst, imports the application, says it is
ready and waits for a line on its standard input, so its interpreter's start (seconds of
imports on a busy machine) does not decide when the copy is taken; it then runs
`bot.cli.main`, as `python -m bot` does.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.emulator import TelegramEmulator, UserHandle
from bot.runtime import Services
from storage.models import AuditEvent, Case, OutboxMessage
from tests.conftest import DATA_KEY, SIGNAL_SECRET
from tests.e2e.harness import TOKEN, Stack, eventually, linked_guardian, shown, signal_for
from tests.process import (
    BotProcess,
    asyncpg_url,
    clean_env,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    midday_zone,
)
from tests.reliability.sends import accepted_sends, opened_earlier

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

GUARDIANS = 40
BACKUP_AFTER = GUARDIANS // 3
TRICKLE_PAUSE_S = 0.05
PATIENCE_S = 60.0  # a safety net while ~40 chats share 30 messages a second
DELIVERY_S = 60.0
COMMAND_TIMEOUT_S = 180.0
WAITING = ("pending", "retry", "sending")
# `python -m bot backup PATH`, importing first and going on a line of standard input. The
# CLI imports a command's code when it runs, so the backup's own modules are imported
# here, before the burst.
ARMED_BACKUP = (
    "import sys, bot.cli, bot.cli.backup, bot.logs, bot.settings; print('ready', flush=True); "
    "sys.stdin.readline(); sys.exit(bot.cli.main(sys.argv[1:]))"
)


@dataclass(frozen=True)
class Row:
    id: int
    case_id: str | None
    kind: str
    channel: str
    status: str
    chat_id: str
    text: str


@dataclass
class Restored:
    """What the backup held, and what the service restored from it did."""

    backend: str
    accepted_before: set[str]  # cases answered 202 before the backup began
    accepted: set[str]  # every case answered 202 by the first service
    burst: dict[str, int]  # case id -> guardian chat id
    cases: dict[str, str]  # case id -> status, in the restored copy
    trails: dict[str, list[tuple[str | None, str | None, str]]]  # (from, to, event)
    rows: list[Row]  # outbox rows in the restored copy
    telegram: TelegramEmulator  # the restored service's Telegram
    delivered: list[Row]  # the same rows once the restored service is done
    cases_after: dict[str, str]
    trails_after: dict[str, list[tuple[str | None, str | None, str]]]

    @property
    def waiting(self) -> list[Row]:
        return [row for row in self.rows if row.status in WAITING]


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def restored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Restored]:
    folder = tmp_path_factory.mktemp(f"backup-{request.param}")
    backend = str(request.param)
    async with AsyncExitStack() as exits:
        emu = await exits.enter_async_context(TelegramEmulator(token=TOKEN))
        if backend == "sqlite":
            live_url = f"sqlite+aiosqlite:///{folder / 'live.db'}"
            restored_url = f"sqlite+aiosqlite:///{folder / 'restored' / 'homeschool.db'}"
        else:
            live = await create_postgres_database("hsb_backup_live")
            exits.push_async_callback(drop_postgres_database, live)
            fresh = await create_postgres_database("hsb_backup_restored")
            exits.push_async_callback(drop_postgres_database, fresh)
            live_url, restored_url = live.url, fresh.url
        env = service_env(live_url, str(emu.base_url))
        first = exits.enter_context(BotProcess(folder, env, folder / "first.log"))
        await first.start()
        http = await exits.enter_async_context(aiohttp.ClientSession())
        async with first.seen_from_test() as app:
            stack = Stack(emu, app, http, PATIENCE_S)
            backup = folder / ("homeschool.backup" if backend == "sqlite" else "homeschool.dump")
            taken = await burst_with_backup(stack, backend, env, backup)
        assert await asyncio.to_thread(first.stop) == 0, first.output_tail()

        restore(backend, folder, backup, restored_url, env)
        telegram = await exits.enter_async_context(TelegramEmulator(token=TOKEN))
        for chat_id in taken.burst.values():
            opened_earlier(telegram, chat_id)
        second_env = service_env(restored_url, str(telegram.base_url))
        second = exits.enter_context(BotProcess(folder, second_env, folder / "second.log"))
        async with second.seen_from_test() as copy:
            cases, trails = await case_trails(copy.svc)
            rows = await outbox(copy.svc)
            await second.start()

            async def drained() -> bool:
                return all(row.status == "sent" for row in await outbox(copy.svc))

            await eventually(drained, timeout=DELIVERY_S, what="every restored row sent")
            delivered = await outbox(copy.svc)
            cases_after, trails_after = await case_trails(copy.svc)
        code = await asyncio.to_thread(second.stop)
        assert code == 0 and "Traceback" not in second.output(), second.output_tail()
        yield Restored(
            backend=backend,
            accepted_before=taken.accepted_before,
            accepted=taken.accepted,
            burst=taken.burst,
            cases=cases,
            trails=trails,
            rows=rows,
            telegram=telegram,
            delivered=delivered,
            cases_after=cases_after,
            trails_after=trails_after,
        )


def service_env(url: str, telegram_url: str) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=url,
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram_url,
        HTTP_PORT=str(free_port()),
        SIGNAL_SECRETS=SIGNAL_SECRET.decode(),
        DATA_KEY=DATA_KEY,
        TIMEZONE=midday_zone(),
    )


@dataclass(frozen=True)
class Burst:
    accepted_before: set[str]
    accepted: set[str]
    burst: dict[str, int]


async def burst_with_backup(stack: Stack, backend: str, env: dict[str, str], path: Path) -> Burst:
    """Run the burst; take the backup when a third of the guardians have tapped "agree"."""
    users = await asyncio.gather(*(linked_guardian(stack) for _ in range(GUARDIANS)))
    armed = await asyncio.to_thread(arm_backup, backend, env, path)
    accepted: list[str] = []
    trickling = asyncio.Event()
    trickle = asyncio.create_task(post_while(stack, accepted, trickling))
    tapped: list[str] = []
    cycles = [
        asyncio.create_task(notice_and_agree(stack, user, accepted, tapped)) for user in users
    ]

    async def enough_taps() -> bool:  # pressed, and the service has recorded the consent
        query = select(func.count()).where(AuditEvent.event == "consent_given")
        async with stack.app.svc.sessions() as session:
            return len(tapped) >= BACKUP_AFTER and (await session.scalar(query) or 0) > 0

    await eventually(enough_taps, timeout=PATIENCE_S, what=f"{BACKUP_AFTER} guardians tapped")
    before = set(accepted)
    await asyncio.to_thread(armed.fire)
    burst = dict(await asyncio.gather(*cycles))
    trickling.set()
    await trickle
    return Burst(before, set(accepted), burst)


@dataclass
class ArmedBackup:
    """A backup command started ahead, run when `fire` is called."""

    process: subprocess.Popen[str] | None
    argv: list[str]
    env: dict[str, str]

    def fire(self) -> None:
        if self.process is not None:
            out, err = self.process.communicate("go\n", timeout=COMMAND_TIMEOUT_S)
            code = self.process.returncode
        else:
            done = subprocess.run(
                self.argv, env=self.env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
            )
            out, err, code = done.stdout, done.stderr, done.returncode
        assert code == 0, err
        print(f"\nbackup: {out.strip() or '(pg_dump is silent)'}")  # noqa: T201


def arm_backup(backend: str, env: dict[str, str], path: Path) -> ArmedBackup:
    if backend == "sqlite":
        process = subprocess.Popen(
            [sys.executable, "-c", ARMED_BACKUP, "backup", str(path)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        return ArmedBackup(process, [], env)
    dsn = asyncpg_url(env["DATABASE_URL"].rsplit("/", 1)[1])
    return ArmedBackup(None, ["pg_dump", "--format=custom", f"--file={path}", dsn], env)


def restore(backend: str, folder: Path, backup: Path, url: str, env: dict[str, str]) -> None:
    if backend == "sqlite":
        argv = [sys.executable, "-m", "bot", "restore", str(backup)]
        restore_env = {**env, "DATABASE_URL": url}
    else:
        dsn = asyncpg_url(url.rsplit("/", 1)[1])
        argv = ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={dsn}", str(backup)]
        restore_env = env
    done = subprocess.run(
        argv, cwd=folder, env=restore_env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr
    print(f"restore: {(done.stdout or '(pg_restore is silent)').strip()}")  # noqa: T201


async def notice_and_agree(
    stack: Stack, user: UserHandle, accepted: list[str], tapped: list[str]
) -> tuple[str, int]:
    """A guardian's part of the burst: the signal, the notice, the tap, the question."""
    case_id = str((await signal_for(stack, user))["case_id"])
    accepted.append(case_id)
    notice = await stack.next_message(user.chat_id, shown(stack, "kk", "consent.question"))
    await user.press(shown(stack, "kk", "consent.agree_button"), notice)
    tapped.append(case_id)
    await stack.emu.wait_for_message(
        user.chat_id, lambda m: m.message_id > notice.message_id, timeout=PATIENCE_S
    )
    return case_id, user.chat_id


async def post_while(stack: Stack, accepted: list[str], done: asyncio.Event) -> None:
    """A health system posting signals for guardians who never opened the bot."""
    while not done.is_set():
        accepted.append(str((await stack.post_signal())["case_id"]))
        await asyncio.sleep(TRICKLE_PAUSE_S)


async def case_trails(
    svc: Services,
) -> tuple[dict[str, str], dict[str, list[tuple[str | None, str | None, str]]]]:
    async with svc.sessions() as session:
        cases = {cid: status for cid, status in await session.execute(select(Case.id, Case.status))}
        query = select(
            AuditEvent.case_id, AuditEvent.from_status, AuditEvent.to_status, AuditEvent.event
        ).order_by(AuditEvent.id)
        trails: dict[str, list[tuple[str | None, str | None, str]]] = {}
        for case_id, before, after, event in await session.execute(query):
            if case_id is not None:
                trails.setdefault(case_id, []).append((before, after, event))
    return cases, trails


async def outbox(svc: Services) -> list[Row]:
    async with svc.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    shaped = []
    for row in rows:
        params = json.loads(svc.cipher.decrypt_text(row.payload_enc or b""))["params"]
        text = params.get("text") or params.get("caption") or ""
        shaped.append(
            Row(row.id, row.case_id, row.kind, row.channel, row.status, row.recipient, text)
        )
    return shaped


def broken_trails(
    cases: dict[str, str], trails: dict[str, list[tuple[str | None, str | None, str]]]
) -> list[str]:
    """Cases whose audit trail does not lead, change by change, to their status."""
    broken = []
    for case_id, status in cases.items():
        changes = [(before, after) for before, after, _ in trails.get(case_id, []) if after]
        steps_join = all(changes[i][1] == changes[i + 1][0] for i in range(len(changes) - 1))
        if not changes or changes[0][0] is not None or not steps_join or changes[-1][1] != status:
            broken.append(f"{case_id} {status}: {changes}")
    return broken


async def test_backup_holds_every_case_with_its_audit_trail_and_outbox_rows(
    restored: Restored,
) -> None:
    kinds: dict[str, Counter[str]] = {}
    for row in restored.rows:
        if row.case_id is not None:
            kinds.setdefault(row.case_id, Counter())[row.kind] += 1
    consented = {
        case_id
        for case_id, trail in restored.trails.items()
        if any(event == "consent_given" for _, _, event in trail)
    }
    in_copy = set(restored.cases)
    burst_in_copy = in_copy & set(restored.burst)

    assert restored.accepted_before <= in_copy <= restored.accepted
    # In the middle of the burst: some guardians had tapped "agree", others not yet.
    assert 0 < len(consented & burst_in_copy) < len(restored.burst)
    assert broken_trails(restored.cases, restored.trails) == []
    assert all(kinds[case_id]["notice"] == 1 for case_id in burst_in_copy), kinds
    assert consented and all(kinds[case_id]["reply"] >= 1 for case_id in consented)
    assert restored.waiting, "the copy was taken with nothing waiting to be sent"


async def test_restored_service_delivers_what_was_waiting_once_and_nothing_else(
    restored: Restored,
) -> None:
    sends = accepted_sends(restored.telegram)
    got = Counter(
        (str(call.params["chat_id"]), str(call.params.get("text") or "")) for call in sends
    )
    waiting = Counter((row.chat_id, row.text) for row in restored.waiting)
    statuses = Counter(row.status for row in restored.rows)
    print(  # noqa: T201 - the figures of the run, shown with -s
        f"\n{restored.backend}: {len(restored.cases)} cases in the copy "
        f"({len(set(restored.cases) & set(restored.burst))} of {GUARDIANS} burst cases, "
        f"{len(restored.accepted)} accepted by the first service in all); "
        f"{len(restored.rows)} outbox rows {dict(statuses)}; {len(restored.waiting)} waiting, "
        f"{len(sends)} delivered by the restored service, "
        f"{sum(n - 1 for n in got.values() if n > 1)} twice"
    )

    assert {row.channel for row in restored.waiting} == {"telegram"}
    assert got == waiting  # each waiting message once; nothing the copy had as sent
    assert [row.id for row in restored.delivered] == [row.id for row in restored.rows]
    assert {row.status for row in restored.delivered} == {"sent"}
    assert broken_trails(restored.cases_after, restored.trails_after) == []
    notified = {cid for cid, kinds in _kinds(restored.waiting).items() if "notice" in kinds}
    assert all(restored.cases_after[cid] != "received" for cid in notified)


def _kinds(rows: list[Row]) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for row in rows:
        if row.case_id is not None:
            kinds.setdefault(row.case_id, set()).add(row.kind)
    return kinds
