"""The real `python -m bot run` in a subprocess, for tests that need a whole process.

`BotProcess` starts the command with a given environment, can SIGKILL it and start it
again with the same environment (same database, same port), and keeps everything the
process wrote to stdout/stderr in one file so a failure can show the end of it.
`BotProcess.seen_from_test()` opens the test's own services on the process's database
and settings, shaped for the end-to-end moves of `tests.e2e.harness.Stack`.
`fresh_postgres_database` gives a process a PostgreSQL database of its own (created
and dropped here), so nothing collides with other tests or a previous run.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from bot.assembly import open_services
from bot.runtime import Services
from bot.settings import Settings
from tests.conftest import NO_POSTGRES, admin_execute, database_url, postgres_url
from tests.conftest import asyncpg_url as asyncpg_url  # the tests of processes import it here

# Safety nets against a hung process, not performance limits: importing the app (aiogram
# and its models) takes several seconds of CPU here, and far longer when the machine is busy.
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


# Ports handed out below the kernel's ephemeral range (32768-60999 by default), so that
# no server binding port 0 and no outgoing connection on this machine can take one
# between `free_port()` and the moment the process it is meant for binds it.
PORTS = range(20_000, 32_000)
_handed_out: set[int] = set()
_random = random.SystemRandom()  # not the global one, which Hypothesis seeds in its tests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a process that binds it later.

    Picked at random below the ephemeral range and never twice in one pytest process,
    so the other xdist workers (and other test runs on the machine) are unlikely to pick
    it too, and port-0 binds never do.
    """
    while True:
        port = _random.choice(PORTS)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


def clean_env(**settings: str) -> dict[str, str]:
    """The test runner's environment without any setting of the bot, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update(settings)
    return env


def midday_zone(now: datetime | None = None) -> str:
    """A TIMEZONE (`Etc/GMT±N`) in which it is 12:xx now, for a process on the real clock.

    Unsolicited notices wait for 09:00 between 21:00 and 09:00 in the service's zone
    (`bot.domain.timing`). A subprocess cannot be given a test clock, so a test that
    needs notices to leave at any hour runs the service in a zone where it is midday:
    the quiet-hours rule still applies, it just has nothing to defer for hours.
    """
    offset = 12 - (now or datetime.now(UTC)).hour  # local hour = UTC hour + offset
    # POSIX-style names: Etc/GMT-5 is five hours *ahead* of UTC.
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def http(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """A blocking request: (status, body text), also for 4xx/5xx answers."""
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _healthy(base: str) -> bool:
    try:
        return http(f"{base}/healthz")[0] == 200
    except OSError:
        return False


@dataclass(frozen=True)
class ProcessApp:
    """A `bot run` subprocess as `tests.e2e.harness.Stack` needs it: services of the
    test's own on the same database (reads, registry imports, API keys, texts) and the
    port of the process's HTTP API."""

    svc: Services
    port: int


class BotProcess:
    """`python -m bot run` in `cwd` with `env`, which must set `HTTP_PORT`.

    Usable from async tests (`start`, `restart` never block the event loop, so an
    emulator in the same loop keeps answering while the process starts). Leaving the
    `with` block kills whatever still runs.
    """

    def __init__(self, cwd: Path, env: Mapping[str, str], log_path: Path | None = None) -> None:
        self.cwd = cwd
        self.env = dict(env)
        self.port = int(self.env["HTTP_PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or cwd / "bot-process.log"
        self.starts = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def settings(self) -> Settings:
        """The settings the process reads from its environment (no `.env` file)."""
        values = {k: v for k, v in self.env.items() if k in Settings.model_fields}
        return Settings.model_validate(values)

    @asynccontextmanager
    async def seen_from_test(self) -> AsyncIterator[ProcessApp]:
        """Open services on the process's database; `env` must set DATA_KEY to share it.

        Opening migrates, so do it while the process runs (its own migration is done)
        or before it starts, not while it starts.
        """
        assert "DATA_KEY" in self.env, "without DATA_KEY each side would generate its own"
        async with open_services(self.settings) as svc:
            yield ProcessApp(svc, self.port)

    async def start(self) -> None:
        """Spawn the process and wait until its HTTP API is healthy.

        After `kill` or `stop`, this starts it again with the same environment (same
        database, port and log), as an operator's supervisor would.
        """
        self._spawn()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not await asyncio.to_thread(_healthy, self.base_url):
            if not self.running:
                pytest.fail(f"`bot run` exited before it was healthy\n{self.output_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"/healthz not 200 within {START_TIMEOUT_S} s\n{self.output_tail()}")
            await asyncio.sleep(0.1)

    def _spawn(self) -> None:
        assert not self.running, "the process is already running"
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f"\n===== start {self.starts} =====\n")
            log.flush()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def kill(self) -> float:
        """SIGKILL the process (no cleanup of any kind runs); return the monotonic kill time."""
        process = self._process
        assert process is not None and process.poll() is None, "the process is not running"
        process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        process.wait(timeout=STOP_TIMEOUT_S)
        return killed_at

    def stop(self) -> int:
        """SIGTERM, wait for the clean shutdown, return the exit code."""
        process = self._process
        assert process is not None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout=STOP_TIMEOUT_S)

    def output(self) -> str:
        """Everything every run of the process printed so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def output_tail(self, lines: int = 60) -> str:
        """The last lines the process printed, for failure messages."""
        tail = self.output().splitlines()[-lines:]
        return "--- `bot run` output (last lines) ---\n" + "\n".join(tail)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.running:
            assert self._process is not None
            self._process.kill()
            self._process.wait(timeout=STOP_TIMEOUT_S)


# --- PostgreSQL: a database per test ---------------------------------------------------


@dataclass(frozen=True)
class PostgresDatabase:
    """An empty database of its own: `name` on the server, `url` for DATABASE_URL."""

    name: str
    url: str


async def create_postgres_database(prefix: str) -> PostgresDatabase:
    """Create an empty database named `<prefix>_<random>`; skips without TEST_POSTGRES_URL.

    A whole database rather than a schema, because `bot run` connects with the URL an
    operator would give it (no search_path) and runs its migrations there.
    """
    base = postgres_url()
    if base is None:
        pytest.skip(NO_POSTGRES)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await admin_execute(f'CREATE DATABASE "{name}"')
    return PostgresDatabase(name=name, url=database_url(base, name))


async def drop_postgres_database(database: PostgresDatabase) -> None:
    """Drop it even while a killed process's connections are still being torn down."""
    await admin_execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


@asynccontextmanager
async def fresh_postgres_database(prefix: str) -> AsyncIterator[PostgresDatabase]:
    """`create_postgres_database`, dropped again on exit."""
    database = await create_postgres_database(prefix)
    try:
        yield database
    finally:
        await drop_postgres_database(database)
