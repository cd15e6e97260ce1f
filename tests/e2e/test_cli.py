"""The real command in a subprocess: `run` serves signals, `migrate` sets up a database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from bot.settings import Settings
from bot.signing import signed_headers
from tests.conftest import NO_POSTGRES, postgres_url
from tests.factories import signal_payload

pytestmark = pytest.mark.slow

SECRET = b"e2e-signal-secret"
# Safety nets against a hung process, not performance limits: importing the app (aiogram
# and its models) takes ~10 s of CPU here, and far longer when the machine is busy.
START_TIMEOUT_S = 120.0
COMMAND_TIMEOUT_S = 180.0
KEY_WARNING = "DATA_KEY is not set: generated a data key"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """The test runner's environment without any setting of the bot, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update(settings)
    return env


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


def http(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_until_healthy(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before it was healthy")
        try:
            if http(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"/healthz did not answer 200 within {START_TIMEOUT_S} s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`python -m bot run` with no DATA_KEY and no BOT_TOKEN, in an empty folder."""
    port = free_port()
    env = clean_env(HTTP_PORT=str(port), SIGNAL_SECRETS=f"retired,{SECRET.decode()}")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def test_cli_run_serves_signals_and_stops_cleanly_on_sigterm(
    server: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    base, process = server
    wait_until_healthy(base, process)
    body = json.dumps(signal_payload()).encode()
    headers = {"Content-Type": "application/json", **signed_headers(SECRET, body, time.time())}

    status, answer = http(f"{base}/api/v1/signals/vkk", body, headers)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=COMMAND_TIMEOUT_S)

    assert status == 202, answer
    assert json.loads(answer)["duplicate"] is False
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    no_bot = [line for line in stderr.splitlines() if "BOT_TOKEN is not set" in line]
    assert len(no_bot) == 1 and "HTTP API only" in no_bot[0], stderr
    assert stderr.count(KEY_WARNING) == 1, stderr
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


def asyncpg_url(database: str | None = None) -> str:
    base = postgres_url()
    assert base is not None
    url = make_url(base).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def admin_execute(statement: str) -> None:
    conn = await asyncpg.connect(asyncpg_url())
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


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
    base = postgres_url()
    if base is None:
        pytest.skip(NO_POSTGRES)
    name = f"hsb_cli_{uuid.uuid4().hex[:12]}"
    target = make_url(base).set(database=name).render_as_string(hide_password=False)
    asyncio.run(admin_execute(f'CREATE DATABASE "{name}"'))
    try:
        env = clean_env(DATABASE_URL=target)
        first = run_cli(tmp_path, env, "migrate")
        second = run_cli(tmp_path, env, "migrate")
        version, tables = asyncio.run(migrated_state(name))
    finally:
        asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    stderr = first.stderr + second.stderr
    assert (first.returncode, second.returncode) == (0, 0), stderr
    assert first.stdout == second.stdout == "database is at the latest schema\n", stderr
    assert "Traceback" not in stderr, stderr
    assert version == "0001"
    assert {"cases", "guardians", "audit_events", "outbox", "alembic_version"} <= tables
