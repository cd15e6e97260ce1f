"""Shared fixtures: a fresh database per test on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from sqlalchemy import text
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

# Shared 2-core machines: wall-clock deadlines would make property tests flaky, not stricter.
settings.register_profile(
    "shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("shared-machine")
NO_POSTGRES = "TEST_POSTGRES_URL is not set (e.g. postgresql+asyncpg://postgres@127.0.0.1/test)"
NO_REDIS = "TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)"


def postgres_url() -> str | None:
    raw = os.environ.get("TEST_POSTGRES_URL")
    if not raw:
        return None
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+asyncpg")
    return url.render_as_string(hide_password=False)


def redis_url() -> str | None:
    return os.environ.get("TEST_REDIS_URL") or None


@dataclass
class Database:
    """One isolated database: a SQLite file or a private PostgreSQL schema."""

    url: str
    engine: AsyncEngine
    backend: str
    schema: str | None = None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database; the PostgreSQL variant skips without TEST_POSTGRES_URL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        engine = create_engine(url)
        await upgrade_to_head(engine)
        yield Database(url=url, engine=engine, backend="sqlite")
        await engine.dispose()
        return
    base = postgres_url()
    if base is None:
        pytest.skip(NO_POSTGRES)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(base, connect_args={"server_settings": {"search_path": schema}})
    try:
        await upgrade_to_head(engine)
        yield Database(url=base, engine=engine, backend="postgres", schema=schema)
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


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
