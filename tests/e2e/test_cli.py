"""The real command in a subprocess: `run` serves signals, `migrate` sets up a database."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from alembic.script import ScriptDirectory

from bot.signing import signed_headers
from storage.migrate import alembic_config
from tests.factories import signal_payload
from tests.process import (
    BotProcess,
    asyncpg_url,
    clean_env,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    http,
)

pytestmark = pytest.mark.slow

SECRET = b"e2e-signal-secret"
# A safety net against a hung command, not a performance limit (see tests.process).
COMMAND_TIMEOUT_S = 180.0
KEY_WARNING = "DATA_KEY is not set: generated a data key"


def run_cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BotProcess]:
    """`python -m bot run` with no DATA_KEY and no BOT_TOKEN, in an empty folder."""
    env = clean_env(HTTP_PORT=str(free_port()), SIGNAL_SECRETS=f"retired,{SECRET.decode()}")
    with BotProcess(tmp_path, env) as process:
        yield process


async def test_cli_run_serves_signals_and_stops_cleanly_on_sigterm(
    server: BotProcess, tmp_path: Path
) -> None:
    await server.start()
    body = json.dumps(signal_payload()).encode()
    path = "/api/v1/signals/vkk"
    signature = signed_headers(SECRET, "POST", path, body, time.time())
    headers = {"Content-Type": "application/json", **signature}

    url = f"{server.base_url}{path}"
    status, answer = await asyncio.to_thread(http, url, body, headers)
    code = await asyncio.to_thread(server.stop)  # SIGTERM
    output = server.output()  # stdout and stderr

    assert status == 202, answer
    assert json.loads(answer)["duplicate"] is False
    assert code == 0, output
    assert "Traceback" not in output, output
    no_bot = [line for line in output.splitlines() if "BOT_TOKEN is not set" in line]
    assert len(no_bot) == 1 and "HTTP API only" in no_bot[0], output
    assert "is now the sender" not in output  # there is nothing to send without a token
    assert output.count(KEY_WARNING) == 1, output
    key_file = tmp_path / "var" / "data.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) == 44  # a Fernet key: 32 bytes, base64
    assert (tmp_path / "var" / "homeschool.db").exists()


def test_cli_migrate_unsupported_database_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, clean_env(DATABASE_URL="mysql://x"), "migrate")

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("homeschool-bot: invalid configuration: DATABASE_URL: ")
    assert "'mysql' is not supported" in lines[0]
    assert not (tmp_path / "var").exists()


def test_cli_migrate_sqlite_creates_database_and_reuses_key(tmp_path: Path) -> None:
    env = clean_env()

    first = run_cli(tmp_path, env, "migrate")
    key = (tmp_path / "var" / "data.key").read_text()
    second = run_cli(tmp_path, env, "migrate")

    stderr = first.stderr + second.stderr
    assert (first.returncode, second.returncode) == (0, 0), stderr
    assert first.stdout == second.stdout == "database is at the latest schema\n", stderr
    assert first.stderr.count(KEY_WARNING) == 1, stderr
    assert KEY_WARNING not in second.stderr
    assert (tmp_path / "var" / "data.key").read_text() == key
    assert "Traceback" not in stderr, stderr
    assert (tmp_path / "var" / "homeschool.db").stat().st_size > 0


async def migrated_state(database: str) -> tuple[str, set[str]]:
    conn = await asyncpg.connect(asyncpg_url(database))
    try:
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return str(version), {row["tablename"] for row in rows}


@pytest.mark.postgres
def test_cli_migrate_postgres_fresh_database(tmp_path: Path) -> None:
    """A database of its own (created and dropped here), so nothing collides."""
    database = asyncio.run(create_postgres_database("hsb_cli"))
    try:
        env = clean_env(DATABASE_URL=database.url)
        first = run_cli(tmp_path, env, "migrate")
        second = run_cli(tmp_path, env, "migrate")
        version, tables = asyncio.run(migrated_state(database.name))
    finally:
        asyncio.run(drop_postgres_database(database))

    stderr = first.stderr + second.stderr
    assert (first.returncode, second.returncode) == (0, 0), stderr
    assert first.stdout == second.stdout == "database is at the latest schema\n", stderr
    assert "Traceback" not in stderr, stderr
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert {"cases", "guardians", "audit_events", "outbox", "alembic_version"} <= tables
