"""Every start-up failure of `run` is one line naming the setting and the cause, exit 2.

Each case starts the real `python -m bot run` in a subprocess with one thing wrong, as
an operator would meet it, and reads what it printed. The lines are shown with `-s`.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import DATA_KEY, postgres_url
from tests.e2e.test_cli import run_cli
from tests.process import (
    asyncpg_url,
    clean_env,
    free_port,
    fresh_postgres_database,
)

pytestmark = pytest.mark.slow

UNKNOWN_REVISION = "9f3e1c0ddead"


def failed_start(cwd: Path, **settings: str) -> str:
    """Run `run` with these settings; it must stop with exit code 2 and one line."""
    env = clean_env(**{"DATA_KEY": DATA_KEY, "HTTP_PORT": str(free_port()), **settings})
    result = run_cli(cwd, env, "run")
    lines = result.stderr.strip().splitlines()
    print(f"\n{result.stderr.strip()}")  # noqa: T201 - the line as the operator reads it
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def migrated_sqlite(folder: Path) -> Path:
    path = folder / "homeschool.db"
    env = clean_env(DATA_KEY=DATA_KEY, DATABASE_URL=sqlite(path))
    assert run_cli(folder, env, "migrate").returncode == 0
    return path


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Take write access away from a file or folder, also from root (who ignores modes)."""
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
            pytest.skip("running as root, and `chattr +i` is not available on this file system")
        try:
            yield
        finally:
            subprocess.run([chattr, "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)


def test_sqlite_path_that_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    line = failed_start(tmp_path, DATABASE_URL=sqlite(folder))
    assert line.startswith(f"homeschool-bot: DATABASE_URL: {folder} is a folder, not a database")


def test_sqlite_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    line = failed_start(tmp_path, DATABASE_URL=sqlite(tmp_path / "data" / "homeschool.db"))
    assert line.startswith("homeschool-bot: DATABASE_URL: cannot use "), line
    assert f"{tmp_path / 'data'} is a file, not a folder" in line


def test_sqlite_database_file_not_writable(tmp_path: Path) -> None:
    database = migrated_sqlite(tmp_path)
    with unwritable(database):
        line = failed_start(tmp_path, DATABASE_URL=sqlite(database))
    assert line.startswith(f"homeschool-bot: DATABASE_URL: cannot use {database}: "), line
    assert "readonly database" in line


def test_sqlite_folder_not_writable(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with unwritable(folder):
        line = failed_start(tmp_path, DATABASE_URL=sqlite(folder / "homeschool.db"))
    assert line.startswith(f"homeschool-bot: DATABASE_URL: cannot use {folder}/homeschool.db: ")
    assert line.split(": ")[-1].split(" (")[0] in ("permission denied", "operation not permitted")


def test_postgres_unreachable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+asyncpg://homeschool:secret-pw@127.0.0.1:{port}/homeschool"
    line = failed_start(tmp_path, DATABASE_URL=url)
    assert line == (
        f"homeschool-bot: DATABASE_URL: cannot connect to 127.0.0.1:{port}: connection refused "
        f"(postgresql+asyncpg://homeschool:***@127.0.0.1:{port}/homeschool)"
    )


@pytest.mark.postgres
def test_postgres_wrong_role(tmp_path: Path) -> None:
    base = postgres_url()
    if base is None:
        pytest.skip("TEST_POSTGRES_URL is not set")
    url = make_url(base).set(username="hsb_no_such_role", password="wrong")
    line = failed_start(tmp_path, DATABASE_URL=url.render_as_string(hide_password=False))
    assert line.startswith("homeschool-bot: DATABASE_URL: the server refused: "), line
    assert 'role "hsb_no_such_role" does not exist' in line or "password" in line
    assert "wrong" not in line  # the password is never printed


@pytest.mark.postgres
def test_postgres_missing_database(tmp_path: Path) -> None:
    base = postgres_url()
    if base is None:
        pytest.skip("TEST_POSTGRES_URL is not set")
    name = f"hsb_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    line = failed_start(tmp_path, DATABASE_URL=url)
    assert line.startswith("homeschool-bot: DATABASE_URL: the server refused: "), line
    assert f'database "{name}" does not exist' in line


def test_sqlite_migration_failure_unknown_revision(tmp_path: Path) -> None:
    database = migrated_sqlite(tmp_path)
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (UNKNOWN_REVISION,))
    line = failed_start(tmp_path, DATABASE_URL=sqlite(database))
    assert line.startswith(
        "homeschool-bot: DATABASE_URL: migration to the latest schema failed, the database "
        f"is left as it was: Can't locate revision identified by '{UNKNOWN_REVISION}'"
    ), line
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (UNKNOWN_REVISION,)
        ]


def test_sqlite_migration_failure_conflicting_table(tmp_path: Path) -> None:
    database = tmp_path / "homeschool.db"
    with sqlite3.connect(database) as connection:  # another program's database
        connection.execute("CREATE TABLE cases (id TEXT PRIMARY KEY)")
    line = failed_start(tmp_path, DATABASE_URL=sqlite(database))
    assert line.startswith(
        "homeschool-bot: DATABASE_URL: migration to the latest schema failed, the database "
        "is left as it was: table cases already exists"
    ), line
    with sqlite3.connect(database) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert [name for (name,) in tables] == ["cases"]


@pytest.mark.postgres
async def test_postgres_migration_failure_unknown_revision(tmp_path: Path) -> None:
    async with fresh_postgres_database("hsb_startup") as database:
        conn = await asyncpg.connect(asyncpg_url(database.name))
        try:
            await conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            await conn.execute("INSERT INTO alembic_version VALUES ($1)", UNKNOWN_REVISION)
        finally:
            await conn.close()
        line = failed_start(tmp_path, DATABASE_URL=database.url)
    assert line.startswith(
        "homeschool-bot: DATABASE_URL: migration to the latest schema failed, the database "
        f"is left as it was: Can't locate revision identified by '{UNKNOWN_REVISION}'"
    ), line


def test_http_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = failed_start(
            tmp_path, DATABASE_URL=sqlite(tmp_path / "homeschool.db"), HTTP_PORT=str(port)
        )
    assert line == (
        f"homeschool-bot: HTTP_PORT: 127.0.0.1:{port} is already in use by another program; "
        "stop it or choose another HTTP_PORT"
    )


def test_sqlite_path_that_is_not_a_database(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n" * 100)
    line = failed_start(tmp_path, DATABASE_URL=sqlite(notes))
    assert line.startswith(f"homeschool-bot: DATABASE_URL: cannot use {notes}: "), line
    assert "file is not a database" in line
    assert notes.read_text() == "shopping list\n" * 100
