"""Each command loads what it uses, as a user runs it: in a fresh interpreter.

`--help` and `keygen` load no Telegram, SQL or PDF code (read from `python -X importtime`
on stderr). `migrate` and `run` load Alembic only when the database is not at the head
revision, aiogram only with a BOT_TOKEN (then through `bot.aiogram_import`, its types
built on first use), Redis only with a REDIS_URL: a tiny wrapper runs `bot.cli.main`
and prints, at exit, which of those packages the process had imported.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.cli import LANGS
from bot.emulator import TelegramEmulator
from bot.texts import Lang
from storage.migrate import head_revision
from tests.process import clean_env, free_port, http

HEAVY = (
    "aiogram",
    "aiohttp",
    "sqlalchemy",
    "alembic",
    "aiosqlite",
    "asyncpg",
    "redis",
    "apscheduler",
    "typst",
    "fontTools",
    "pydantic",
)
TIMEOUT_S = 120.0  # a safety net against a hung process, not a performance limit
TOKEN = "123456:cli-imports-test"
# Runs `homeschool-bot ARGS...` and reports at exit which HEAVY packages were imported,
# and whether aiogram's methods were deferred by bot.aiogram_import.
WRAPPER = f"""
import atexit, json, sys
import bot.cli

def report():
    base = sys.modules.get("aiogram.methods.base")
    deferred = bool(base and base.TelegramMethod.model_config.get("defer_build"))
    loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))
    print("IMPORTED " + json.dumps({{"packages": loaded, "aiogram_deferred": deferred}}))

atexit.register(report)
sys.exit(bot.cli.main(sys.argv[1:]))
"""


def imported(*args: str) -> tuple[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done.stdout, modules


@dataclass(frozen=True)
class Imports:
    packages: set[str]
    aiogram_deferred: bool


def report(stdout: str) -> Imports:
    [line] = [line for line in stdout.splitlines() if line.startswith("IMPORTED ")]
    found = json.loads(line.removeprefix("IMPORTED "))
    return Imports(set(found["packages"]), bool(found["aiogram_deferred"]))


def wrapped(cwd: Path, env: dict[str, str], *args: str) -> Imports:
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return report(done.stdout)


async def served(cwd: Path, env: dict[str, str]) -> Imports:
    """`run` until its first /healthz answers 200, then SIGTERM; the wrapper's report."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRAPPER, "run",
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{env['HTTP_PORT']}/healthz"
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while process.returncode is None:
                try:
                    if (await asyncio.to_thread(http, url))[0] == 200:
                        break
                except OSError:
                    await asyncio.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    return report(stdout.decode())


def at_head_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A SQLite database migrated to head by `migrate`, and a free port for `run`."""
    database = tmp_path / "cli.db"
    env = clean_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        DATA_KEY=Fernet.generate_key().decode(),
        HTTP_PORT=str(free_port()),
        **settings,
    )
    wrapped(tmp_path, env, "migrate")
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]
    return env


@pytest.mark.parametrize(
    "args", [["--help"], ["keygen"], ["demo", "--help"], ["schools", "import", "--help"]]
)
def test_cli_light_commands_import_no_telegram_sql_or_pdf(args: list[str]) -> None:
    _, modules = imported(*args)

    assert "bot.cli" in modules  # the log is read right
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []


def test_cli_keygen_prints_a_working_data_key() -> None:
    output, _ = imported("keygen")

    key = output.strip()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"


def test_cli_demo_languages_are_the_bots_languages() -> None:
    """Declared without importing bot.texts (babel), so they must be kept equal by hand."""
    assert tuple(lang.value for lang in Lang) == LANGS


def test_cli_migrate_loads_alembic_only_for_a_database_behind_head(tmp_path: Path) -> None:
    env = clean_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        DATA_KEY=Fernet.generate_key().decode(),
    )

    fresh = wrapped(tmp_path, env, "migrate")
    again = wrapped(tmp_path, env, "migrate")

    assert "alembic" in fresh.packages
    assert "sqlalchemy" in again.packages
    assert again.packages & {"alembic", "aiogram", "redis", "typst"} == set()


@pytest.mark.slow
async def test_cli_run_http_only_at_head_imports_no_telegram_redis_alembic_or_pdf(
    tmp_path: Path,
) -> None:
    env = at_head_env(tmp_path)

    packages = (await served(tmp_path, env)).packages

    assert {"aiohttp", "sqlalchemy", "apscheduler"} <= packages
    assert packages & {"aiogram", "alembic", "redis", "typst", "fontTools"} == set()


@pytest.mark.slow
async def test_cli_run_with_bot_token_loads_aiogram_deferred_and_no_redis(tmp_path: Path) -> None:
    async with TelegramEmulator(token=TOKEN) as emu:
        assert emu.base_url is not None
        env = at_head_env(tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emu.base_url)

        imports = await served(tmp_path, env)

    assert "aiogram" in imports.packages
    assert imports.aiogram_deferred  # imported through bot.aiogram_import
    assert imports.packages & {"alembic", "redis", "typst"} == set()


@pytest.mark.slow
@pytest.mark.redis
async def test_cli_run_with_redis_url_loads_redis(tmp_path: Path) -> None:
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        pytest.skip("TEST_REDIS_URL is not set")
    async with TelegramEmulator(token=TOKEN) as emu:
        assert emu.base_url is not None
        env = at_head_env(
            tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emu.base_url, REDIS_URL=redis_url
        )

        packages = (await served(tmp_path, env)).packages

    assert "redis" in packages
