"""Shared fixtures: a fresh database per test on SQLite and, when configured, PostgreSQL.

The suite runs on pytest-xdist workers (pyproject.toml), so everything a test shares
with the machine is made per worker here: PostgreSQL databases are named after the
worker (`test_gw0`, `test_gw0_17`), each worker has a Redis database of its own
(`redis_url`), and servers listen on free ports (`tests.process.free_port`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FrozenClock
from bot.domain.calendar import load_calendar
from bot.runtime import Services, session_factory
from bot.settings import Settings
from bot.texts import Texts
from storage.crypto import DataCipher
from storage.migrate import upgrade_to_head
from storage.session import create_engine

ALMATY = ZoneInfo("Asia/Almaty")
SIGNAL_SECRET = b"test-signal-secret"
DATA_KEY = Fernet.generate_key().decode()
TEXTS = Texts()
T = TypeVar("T")

# Shared 2-core machines: wall-clock deadlines would make property tests flaky, not stricter.
settings.register_profile(
    "shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("shared-machine")
NO_POSTGRES = "TEST_POSTGRES_URL is not set (e.g. postgresql+asyncpg://postgres@127.0.0.1/test)"
NO_REDIS = "TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)"


def worker() -> tuple[str, int]:
    """This pytest-xdist worker's name and number (`gw0`, 0; `main`, 0 without xdist)."""
    name = os.environ.get("PYTEST_XDIST_WORKER")
    return (name, int(name.removeprefix("gw"))) if name else ("main", 0)


def postgres_url() -> str | None:
    """TEST_POSTGRES_URL with the asyncpg driver: the server, and the database that admin
    statements (CREATE/DROP DATABASE) connect to. Tests get databases of their own."""
    raw = os.environ.get("TEST_POSTGRES_URL")
    if not raw:
        return None
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+asyncpg")
    return url.render_as_string(hide_password=False)


def redis_url() -> str | None:
    """TEST_REDIS_URL for this worker: `redis://host:port/N` is db N for the first worker
    (and without xdist), N-1 for the second, and so on (modulo 16).

    Each worker needs a database of its own, not only keys of its own: the dialog purge
    and `rekey` sweep every `fsm:*` key of the database, and each worker has a DATA_KEY
    of its own, so a sweep in one worker would meet another worker's keys.
    """
    raw = os.environ.get("TEST_REDIS_URL")
    if not raw:
        return None
    parts = urlsplit(raw)
    first = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(first - worker()[1]) % 16}"))


def asyncpg_url(database: str | None = None) -> str:
    """TEST_POSTGRES_URL as plain asyncpg understands it, optionally for another database."""
    base = postgres_url()
    assert base is not None
    url = make_url(base).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def admin_execute(statement: str, *args: object) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the server of TEST_POSTGRES_URL."""
    conn = await asyncpg.connect(asyncpg_url())
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


def database_url(base: str, database: str) -> str:
    """`base` (a SQLAlchemy URL) for another database on the same server."""
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def worker_database_name(base: str) -> str:
    """`<database of TEST_POSTGRES_URL>_<worker>`: the worker's migrated template; the
    databases of its tests are named after it (`test_gw0_17`)."""
    return f"{make_url(base).database}_{worker()[0]}"


async def drop_worker_databases(base: str) -> None:
    """Drop this worker's template and every database named after it."""
    template = worker_database_name(base)
    conn = await asyncpg.connect(asyncpg_url())
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2",
            template,
            template.replace("_", r"\_") + r"\_%",
        )
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def in_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from synchronous code, even inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


@dataclass
class Database:
    """One isolated database: a SQLite file or a PostgreSQL database of its own."""

    url: str
    engine: AsyncEngine
    backend: str
    schema: str | None = None  # "public" on PostgreSQL, for a second engine's search_path


class Templates:
    """Migrated, empty databases of this worker, built at the first test that needs one.

    Alembic takes a good part of a second per run on this machine and the suite asks for
    over a thousand fresh databases, so each worker migrates once per backend and every
    test gets a copy: a copied SQLite file, or a PostgreSQL database created from the
    worker's template. A copy of a migrated database is what the migrations would have
    built; `tests/storage/test_migrations.py` still runs them from base to head.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        self._serial = itertools.count(1)

    async def sqlite_copy(self, target: Path) -> str:
        """A migrated SQLite file at `target`; returns its URL."""
        if self._sqlite is None:
            template = self.root / "template.db"
            engine = create_engine(f"sqlite+aiosqlite:///{template}")
            await upgrade_to_head(engine)
            await engine.dispose()  # the last connection checkpoints the WAL into the file
            self._sqlite = template
        shutil.copyfile(self._sqlite, target)
        return f"sqlite+aiosqlite:///{target}"

    async def postgres_copy(self, base: str) -> str:
        """A new database created from the worker's migrated template; returns its name."""
        if self._postgres is None:
            template = worker_database_name(base)
            await drop_worker_databases(base)  # what a killed earlier run left behind
            await admin_execute(f'CREATE DATABASE "{template}"')
            engine = create_engine(database_url(base, template))
            await upgrade_to_head(engine)
            await engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it unused
            self._postgres = template
        name = f"{self._postgres}_{next(self._serial)}"
        await admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._postgres}"')
        return name

    def close(self) -> None:
        """Drop the PostgreSQL template (the copies are dropped by their tests)."""
        base = postgres_url()
        if self._postgres is not None and base is not None:
            in_thread(drop_worker_databases(base))


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    found = Templates(tmp_path_factory.mktemp("templates"))
    yield found
    found.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
) -> AsyncIterator[Database]:
    """A migrated, empty database; the PostgreSQL variant skips without TEST_POSTGRES_URL."""
    if request.param == "sqlite":
        url = await templates.sqlite_copy(tmp_path / "test.db")
        engine = create_engine(url)
        yield Database(url=url, engine=engine, backend="sqlite")
        await engine.dispose()
        return
    base = postgres_url()
    if base is None:
        pytest.skip(NO_POSTGRES)
    name = await templates.postgres_copy(base)
    url = database_url(base, name)
    engine = create_engine(url)
    try:
        yield Database(url=url, engine=engine, backend="postgres", schema="public")
    finally:
        await engine.dispose()
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> FrozenClock:
    """Wednesday 2026-11-25 10:00 in Almaty: a plain working morning."""
    return FrozenClock(datetime(2026, 11, 25, 5, 0, tzinfo=UTC), ALMATY)


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "DATABASE_URL": database_url,
        "SIGNAL_SECRETS": SIGNAL_SECRET.decode(),
        "DATA_KEY": DATA_KEY,
        "HTTP_PORT": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def services(database: Database, clock: FrozenClock) -> Services:
    wakeup = asyncio.Event()
    return Services(
        settings=make_settings(database.url),
        engine=database.engine,
        sessions=session_factory(database.engine, wakeup),
        cipher=DataCipher([DATA_KEY]),
        clock=clock,
        calendar=load_calendar(ALMATY),
        texts=TEXTS,
        outbox_wakeup=wakeup,
    )


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadfile` (pyproject.toml) with the heaviest files first and one rate
    measurement at a time (`tests.scheduling`); other `--dist` modes stay xdist's."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.scheduling import LongestFirst

    return LongestFirst(config, log)  # type: ignore[arg-type]
