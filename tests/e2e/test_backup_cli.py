"""`homeschool-bot backup` and `restore` as an operator runs them, in subprocesses.

The copy taken in the middle of a burst, and the service started on it, are in
`tests/reliability/test_backup_restore.py`; here: what the commands print, refuse and
check.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.signing import signed_headers
from storage.backup import database_lock
from storage.migrate import alembic_config, downgrade_to, upgrade_to_head
from storage.session import create_engine
from tests.conftest import DATA_KEY
from tests.e2e.test_cli import run_cli
from tests.e2e.test_startup_errors import failed_start
from tests.factories import signal_payload
from tests.process import BotProcess, clean_env, free_port, http

pytestmark = pytest.mark.slow

SECRET = "backup-signal-secret"
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def sqlite_env(database: Path, **settings: str) -> dict[str, str]:
    return clean_env(
        **{
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "DATA_KEY": DATA_KEY,
            "HTTP_PORT": str(free_port()),
            "SIGNAL_SECRETS": SECRET,
            **settings,
        }
    )


def case_ids(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return [cid for (cid,) in connection.execute("SELECT id FROM cases ORDER BY id")]


def revision(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return [v for (v,) in connection.execute("SELECT version_num FROM alembic_version")]


async def test_backup_while_serving_then_restore_refused_until_the_service_stops(
    tmp_path: Path,
) -> None:
    live, copy = tmp_path / "var" / "homeschool.db", tmp_path / "backups" / "monday.db"
    env = sqlite_env(live)
    with BotProcess(tmp_path, env) as service:
        await service.start()
        body = json.dumps(signal_payload()).encode()
        headers = {"Content-Type": "application/json"}
        headers |= signed_headers(SECRET.encode(), "POST", "/api/v1/signals/vkk", body, time.time())
        status, _ = await asyncio.to_thread(
            http, f"{service.base_url}/api/v1/signals/vkk", body, headers
        )
        taken = await asyncio.to_thread(run_cli, tmp_path, env, "backup", str(copy))
        refused = await asyncio.to_thread(run_cli, tmp_path, env, "restore", str(copy))
        still_serving = service.running
        assert await asyncio.to_thread(service.stop) == 0
    before = case_ids(live)
    restored = run_cli(tmp_path, env, "restore", str(copy))

    assert status == 202 and still_serving
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.splitlines() == [
        f"backup written to {copy} ({copy.stat().st_size} bytes, integrity ok, "
        f"schema revision {HEAD}, readable by its owner only)",
        "keep DATA_KEY too, stored apart from the copy: without that key the personal data "
        "in the backup cannot be read",
    ]
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"homeschool-bot: DATABASE_URL: {live} is in use by a running homeschool-bot "
        "(run or another command); stop it first, nothing was changed"
    )
    assert restored.returncode == 0, restored.stderr
    [kept] = (tmp_path / "var").glob("homeschool.db.replaced-*")
    assert f"the database it replaced is kept as {kept}" in restored.stdout
    assert case_ids(live) == before == case_ids(kept)
    assert len(before) == 1
    assert stat.S_IMODE(live.stat().st_mode) == 0o600


def test_run_refuses_to_start_while_a_restore_replaces_the_database(tmp_path: Path) -> None:
    database = tmp_path / "homeschool.db"
    with database_lock(database, exclusive=True):  # what `restore` holds meanwhile
        line = failed_start(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    assert line == (
        f"homeschool-bot: DATABASE_URL: {database} is being replaced by a restore right now; "
        "start again when it is done"
    )


def test_damaged_or_foreign_backups_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    live = tmp_path / "homeschool.db"
    env = sqlite_env(live)
    assert run_cli(tmp_path, env, "migrate").returncode == 0
    good = tmp_path / "good.db"
    assert run_cli(tmp_path, env, "backup", str(good)).returncode == 0
    damaged = tmp_path / "damaged.db"
    with sqlite3.connect(good) as connection:
        [(page_size,)] = connection.execute("PRAGMA page_size")
        [(root,)] = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'cases'")
    data = bytearray(good.read_bytes())
    start = (root - 1) * page_size
    data[start : start + 12] = b"\xff" * 12  # the header of the cases table's b-tree page
    damaged.write_bytes(bytes(data))
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 200)
    newer = tmp_path / "newer.db"
    shutil.copy(good, newer)
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    before = live.read_bytes()

    answers = {
        path.name: run_cli(tmp_path, env, "restore", str(path))
        for path in (damaged, foreign, text, newer, tmp_path / "missing.db", live)
    }
    onto_itself = run_cli(tmp_path, env, "backup", str(live))

    for name, answer in answers.items():
        print(f"\n{name}: {answer.stderr.strip()}")  # noqa: T201
        assert answer.returncode == 2, (name, answer.stdout)
        assert len(answer.stderr.strip().splitlines()) == 1, answer.stderr
        assert answer.stderr.startswith("homeschool-bot: restore failed, nothing was changed: ")
    assert f"{damaged} is damaged" in answers["damaged.db"].stderr
    assert "records no schema revision" in answers["foreign.db"].stderr
    assert "not a readable SQLite database" in answers["notes.txt"].stderr
    assert "'ffffffffffff', which this release does not know" in answers["newer.db"].stderr
    assert "there is no file at" in answers["missing.db"].stderr
    assert f"{live} is the database itself" in answers["homeschool.db"].stderr
    assert onto_itself.returncode == 2
    assert f"{live} is the database itself; choose another path" in onto_itself.stderr
    assert live.read_bytes() == before
    assert not list(tmp_path.glob("*.replaced-*"))
    assert not list(tmp_path.glob(".*.partial"))


def older_revisions() -> list[str]:
    """Every revision below head, and the empty schema ("base")."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in script.walk_revisions() if rev.revision != HEAD] + ["base"]


@pytest.mark.parametrize("older", older_revisions())
async def test_an_older_backup_is_migrated_forward(tmp_path: Path, older: str) -> None:
    backup = tmp_path / "old.db"
    engine = create_engine(f"sqlite+aiosqlite:///{backup}")
    try:
        await upgrade_to_head(engine)
        await downgrade_to(engine, older)
    finally:
        await engine.dispose()
    live = tmp_path / "var" / "homeschool.db"
    env = sqlite_env(live)
    shown_before = older if older != "base" else "none"

    answer = await asyncio.to_thread(run_cli, tmp_path, env, "restore", str(backup))

    assert answer.returncode == 0, answer.stderr
    assert f"(revision {shown_before}, migrated to {HEAD}, integrity ok)" in answer.stdout
    assert revision(live) == [HEAD]
    assert revision(backup) == ([] if older == "base" else [older])  # the backup is untouched


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_postgres_is_pointed_to_its_own_tools(tmp_path: Path, command: str) -> None:
    env = clean_env(
        DATABASE_URL="postgresql+asyncpg://homeschool@127.0.0.1:5432/homeschool", DATA_KEY=DATA_KEY
    )
    answer = run_cli(tmp_path, env, command, str(tmp_path / "x"))
    tool = "pg_dump" if command == "backup" else "pg_restore"
    assert answer.returncode == 2
    assert answer.stderr.strip() == (
        f"homeschool-bot: {command} works on SQLite only; DATABASE_URL is PostgreSQL: "
        f"use {tool} (README, section 'Backups')"
    )
    assert not (tmp_path / "x").exists()
