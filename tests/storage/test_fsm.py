"""aiogram FSM storage: SQL on SQLite and PostgreSQL, Redis when configured, and the choice."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import DataNotDictLikeError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup, default_state
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Chat, Message, Update, User
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.clock import FrozenClock
from bot.fsm_storage import build_fsm_storage
from bot.runtime import Services, session_factory
from storage.crypto import DataCipher
from storage.fsm import SqlStorage
from storage.models import FsmRecord
from storage.session import create_engine
from tests.conftest import DATA_KEY, NO_REDIS, Database, make_settings, redis_url

ADDRESS = "Алматы, ул. Абая 150, кв. 12"
BOT_ID = 42
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


class Intake(StatesGroup):
    address = State()
    confirm = State()


def make_key(**overrides: Any) -> StorageKey:
    values: dict[str, Any] = {"bot_id": BOT_ID, "chat_id": 1001, "user_id": 1001}
    values.update(overrides)
    return StorageKey(**values)


@pytest.fixture
def storage(services: Services) -> SqlStorage:
    return SqlStorage(services.sessions, services.cipher, services.clock.now)


def reopen_engine(database: Database) -> AsyncEngine:
    """A second engine on the same database, as a restarted process would open."""
    if database.schema is None:
        return create_engine(database.url)
    return create_engine(
        database.url, connect_args={"server_settings": {"search_path": database.schema}}
    )


async def fsm_rows(database: Database) -> list[tuple[Any, ...]]:
    async with database.engine.connect() as conn:
        result = await conn.execute(text("SELECT key, state, data_enc, updated_at FROM fsm_states"))
        return [tuple(row) for row in result.all()]


async def test_sql_storage_state_and_data_round_trip(storage: SqlStorage) -> None:
    key = make_key()
    await storage.set_state(key, "Intake:address")
    await storage.set_data(key, {"address": ADDRESS, "children": [1, 2]})

    assert await storage.get_state(key) == "Intake:address"
    assert await storage.get_data(key) == {"address": ADDRESS, "children": [1, 2]}
    assert await storage.get_value(key, "address") == ADDRESS
    assert await storage.get_value(key, "missing", "fallback") == "fallback"


async def test_sql_storage_unknown_key_is_empty(storage: SqlStorage) -> None:
    assert await storage.get_state(make_key()) is None
    assert await storage.get_data(make_key()) == {}
    assert await storage.get_value(make_key(), "address") is None


async def test_sql_storage_set_state_keeps_data_and_set_data_keeps_state(
    storage: SqlStorage,
) -> None:
    key = make_key()
    await storage.set_data(key, {"step": 1})
    await storage.set_state(key, Intake.confirm)
    await storage.set_data(key, {"step": 2})

    assert await storage.get_state(key) == "Intake:confirm"
    assert await storage.get_data(key) == {"step": 2}


async def test_sql_storage_update_data_merges(storage: SqlStorage) -> None:
    key = make_key()
    await storage.set_state(key, Intake.address)
    await storage.set_data(key, {"address": "old", "phone_ok": True})

    merged = await storage.update_data(key, {"address": ADDRESS, "lang": "kk"})

    expected = {"address": ADDRESS, "phone_ok": True, "lang": "kk"}
    assert merged == expected
    assert await storage.get_data(key) == expected
    assert await storage.get_state(key) == "Intake:address"


async def test_sql_storage_returned_data_is_a_copy(storage: SqlStorage) -> None:
    key = make_key()
    merged = await storage.update_data(key, {"items": [1]})
    merged["items"].append(2)
    fetched = await storage.get_data(key)
    fetched["extra"] = True

    assert await storage.get_data(key) == {"items": [1]}


@pytest.mark.parametrize(
    "other",
    [
        {"chat_id": 2002},
        {"user_id": 2002},
        {"bot_id": 43},
        {"thread_id": 7},
        {"destiny": "staff"},
    ],
    ids=["chat", "user", "bot", "thread", "destiny"],
)
async def test_sql_storage_different_keys_are_isolated(
    storage: SqlStorage, other: dict[str, Any]
) -> None:
    mine, theirs = make_key(), make_key(**other)
    await storage.set_state(mine, Intake.address)
    await storage.set_data(mine, {"address": ADDRESS})
    await storage.set_state(theirs, Intake.confirm)
    await storage.update_data(theirs, {"address": "elsewhere"})

    assert await storage.get_state(mine) == "Intake:address"
    assert await storage.get_data(mine) == {"address": ADDRESS}
    assert await storage.get_state(theirs) == "Intake:confirm"
    assert await storage.get_data(theirs) == {"address": "elsewhere"}


async def test_sql_storage_new_instance_on_new_engine_sees_state(
    storage: SqlStorage, database: Database, clock: FrozenClock
) -> None:
    key = make_key()
    await storage.set_state(key, Intake.confirm)
    await storage.set_data(key, {"address": ADDRESS})
    await storage.close()

    engine = reopen_engine(database)
    try:
        restarted = SqlStorage(
            session_factory(engine, asyncio.Event()), DataCipher([DATA_KEY]), clock.now
        )
        assert await restarted.get_state(key) == "Intake:confirm"
        assert await restarted.get_data(key) == {"address": ADDRESS}
    finally:
        await engine.dispose()


async def test_sql_storage_data_is_encrypted_at_rest(
    storage: SqlStorage, database: Database, services: Services
) -> None:
    await storage.set_state(make_key(), Intake.address)
    await storage.set_data(make_key(), {"address": ADDRESS})

    [(_, state, data_enc, _)] = await fsm_rows(database)

    assert state == "Intake:address"
    raw = bytes(data_enc)
    assert ADDRESS.encode() not in raw
    assert "Абая".encode() not in raw
    assert services.cipher.decrypt_json(raw) == {"address": ADDRESS}


async def test_sql_storage_row_records_key_and_clock_time(
    storage: SqlStorage, services: Services
) -> None:
    await storage.set_state(make_key(), Intake.address)

    async with services.sessions() as session:
        record = (await session.scalars(select(FsmRecord))).one()

    assert record.key == f"fsm:{BOT_ID}:1001:1001:default"
    assert record.updated_at == services.clock.now()


@pytest.mark.parametrize("clear_state_first", [True, False], ids=["state-first", "data-first"])
async def test_sql_storage_clearing_state_and_data_removes_row(
    storage: SqlStorage, database: Database, clear_state_first: bool
) -> None:
    key = make_key()
    await storage.set_state(key, Intake.address)
    await storage.set_data(key, {"address": ADDRESS})

    if clear_state_first:
        await storage.set_state(key, None)
        assert len(await fsm_rows(database)) == 1
        await storage.set_data(key, {})
    else:
        await storage.set_data(key, {})
        assert len(await fsm_rows(database)) == 1
        await storage.set_state(key, None)

    assert await fsm_rows(database) == []
    assert await storage.get_state(key) is None
    assert await storage.get_data(key) == {}


async def test_sql_storage_clearing_unknown_key_creates_no_row(
    storage: SqlStorage, database: Database
) -> None:
    await storage.set_state(make_key(), None)
    await storage.set_data(make_key(), {})
    assert await storage.update_data(make_key(), {}) == {}

    assert await fsm_rows(database) == []


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (Intake.address, "Intake:address"),
        ("Intake:address", "Intake:address"),
        ("free-form", "free-form"),
        (default_state, None),
        (None, None),
    ],
    ids=["State", "str", "free-str", "default_state", "None"],
)
async def test_sql_storage_accepts_state_objects_and_strings(
    storage: SqlStorage, state: State | str | None, expected: str | None
) -> None:
    key = make_key()
    await storage.set_state(key, Intake.confirm)
    await storage.set_state(key, state)
    assert await storage.get_state(key) == expected


async def test_sql_storage_set_data_rejects_non_dict(storage: SqlStorage) -> None:
    with pytest.raises(DataNotDictLikeError):
        await storage.set_data(make_key(), [("address", ADDRESS)])  # type: ignore[arg-type]


async def test_sql_storage_key_too_long_is_refused(storage: SqlStorage) -> None:
    with pytest.raises(ValueError, match="longer than 200"):
        await storage.set_state(make_key(destiny="x" * 200), Intake.address)


async def test_sql_storage_concurrent_updates_on_distinct_keys_all_land(
    storage: SqlStorage, database: Database
) -> None:
    keys = [make_key(chat_id=5000 + i, user_id=5000 + i) for i in range(50)]

    await asyncio.gather(
        *(
            storage.update_data(key, {"n": i, "address": f"{ADDRESS}-{i}"})
            for i, key in enumerate(keys)
        )
    )

    for i, key in enumerate(keys):
        assert await storage.get_data(key) == {"n": i, "address": f"{ADDRESS}-{i}"}
    assert len(await fsm_rows(database)) == 50


async def test_sql_storage_concurrent_updates_on_one_key_lose_nothing(
    storage: SqlStorage,
) -> None:
    key = make_key()

    await asyncio.gather(*(storage.update_data(key, {f"field{i}": i}) for i in range(20)))

    assert await storage.get_data(key) == {f"field{i}": i for i in range(20)}


async def test_sql_storage_delete_stale_removes_only_old_rows(
    storage: SqlStorage, services: Services, clock: FrozenClock
) -> None:
    old, fresh = make_key(chat_id=1), make_key(chat_id=2)
    await storage.set_data(old, {"address": ADDRESS})
    clock.advance(timedelta(days=30))
    await storage.set_state(fresh, Intake.address)

    removed = await storage.delete_stale(clock.now() - timedelta(days=1))

    assert removed == 1
    assert await storage.get_data(old) == {}
    assert await storage.get_state(fresh) == "Intake:address"


# --- a real aiogram Dispatcher on the SQL storage ---------------------------------------


def intake_router(seen: list[str]) -> Router:
    router = Router(name="fsm-test")

    @router.message(Command("start"))
    async def on_start(message: Message, state: FSMContext) -> None:
        await state.set_state(Intake.address)
        seen.append("start")

    @router.message(Intake.address)
    async def on_address(message: Message, state: FSMContext) -> None:
        await state.update_data(address=message.text)
        await state.set_state(Intake.confirm)
        seen.append("address")

    return router


def text_update(update_id: int, text_value: str, user_id: int = 777) -> Update:
    user = User(id=user_id, is_bot=False, first_name="Guardian")
    message = Message(
        message_id=update_id,
        date=datetime(2026, 11, 25, 5, 0, tzinfo=UTC),
        chat=Chat(id=user_id, type="private"),
        from_user=user,
        text=text_value,
    )
    return Update(update_id=update_id, message=message)


@pytest.fixture
async def offline_bot() -> AsyncIterator[Bot]:
    """A Bot that is never asked to call Telegram: the handlers only touch the FSM."""
    bot = Bot(token=f"{BOT_ID}:TEST-TOKEN-never-sent")
    yield bot
    await bot.session.close()


async def test_dispatcher_on_sql_storage_keeps_dialog_across_restart(
    services: Services, offline_bot: Bot
) -> None:
    seen: list[str] = []
    first = Dispatcher(storage=SqlStorage(services.sessions, services.cipher, services.clock.now))
    first.include_router(intake_router(seen))
    await first.feed_update(offline_bot, text_update(1, "/start"))

    restarted_storage = SqlStorage(services.sessions, services.cipher, services.clock.now)
    second = Dispatcher(storage=restarted_storage)
    second.include_router(intake_router(seen))
    await second.feed_update(offline_bot, text_update(2, ADDRESS))

    key = StorageKey(bot_id=BOT_ID, chat_id=777, user_id=777)
    assert seen == ["start", "address"]
    assert await restarted_storage.get_state(key) == "Intake:confirm"
    assert await restarted_storage.get_data(key) == {"address": ADDRESS}


# --- choice of storage ----------------------------------------------------------------


@sqlite_only
async def test_build_fsm_storage_without_redis_url_returns_sql_storage(
    services: Services,
) -> None:
    settings = make_settings(services.settings.DATABASE_URL, REDIS_URL="")

    storage = build_fsm_storage(settings, services.sessions, services.cipher, services.clock)

    assert settings.REDIS_URL is None
    assert isinstance(storage, SqlStorage)
    await storage.set_state(make_key(), Intake.address)
    assert await storage.get_state(make_key()) == "Intake:address"


REDIS_BOT_ID = 900_000_000 + secrets.randbelow(99_999_999)  # a key namespace of its own


@pytest.fixture
async def redis_storage(clock: FrozenClock) -> AsyncIterator[BaseStorage]:
    """What `build_fsm_storage` returns for a real Redis; its keys are deleted afterwards."""
    url = redis_url()
    if url is None:
        pytest.skip(NO_REDIS)
    settings = make_settings("sqlite+aiosqlite:///:memory:", REDIS_URL=url)
    storage = build_fsm_storage(settings, async_sessionmaker(), DataCipher([DATA_KEY]), clock)
    if not isinstance(storage, RedisStorage):
        await storage.close()
        pytest.fail(f"expected RedisStorage, got {type(storage).__name__}")
    yield storage
    try:
        async for leftover in storage.redis.scan_iter(match=f"fsm:{REDIS_BOT_ID}:*"):
            await storage.redis.delete(leftover)
    finally:
        await storage.close()


@pytest.mark.redis
async def test_build_fsm_storage_with_redis_url_round_trips_encrypted(
    redis_storage: BaseStorage,
) -> None:
    assert isinstance(redis_storage, RedisStorage)
    key = make_key(bot_id=REDIS_BOT_ID)
    other = make_key(bot_id=REDIS_BOT_ID, user_id=2002)

    await redis_storage.set_state(key, Intake.address)
    await redis_storage.set_data(key, {"address": ADDRESS})
    merged = await redis_storage.update_data(key, {"lang": "ru"})

    assert merged == {"address": ADDRESS, "lang": "ru"}
    assert await redis_storage.get_state(key) == "Intake:address"
    assert await redis_storage.get_data(key) == {"address": ADDRESS, "lang": "ru"}
    assert await redis_storage.get_state(other) is None
    raw = await redis_storage.redis.get(f"fsm:{REDIS_BOT_ID}:1001:1001:default:data")
    assert raw is not None
    assert ADDRESS.encode() not in raw

    await redis_storage.set_state(key, None)
    await redis_storage.set_data(key, {})
    assert await redis_storage.redis.keys(f"fsm:{REDIS_BOT_ID}:*") == []
