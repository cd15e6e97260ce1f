"""`homeschool-bot rekey`: after it, the old DATA_KEY can go and nothing is lost."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from bot.assembly import build_cipher, open_services
from bot.cli import main
from bot.fsm_storage import build_fsm_storage
from bot.runtime import Services
from bot.usecases.rekey import REDIS_DIALOGS, rekey_personal_data
from storage.crypto import DataCipher, UndecryptableData
from storage.models import Case, Guardian
from storage.repositories.guardians import get_guardian_by_phone
from storage.repositories.rekey import encrypted_tables, list_encrypted_rows, replace_if_unchanged
from tests.conftest import (
    DATA_KEY,
    NO_REDIS,
    SIGNAL_SECRET,
    Database,
    make_settings,
    redis_url,
)
from tests.security.flow import full_flow, make_person, open_signal, school_with_inboxes


def with_key(services: Services, data_key: str) -> Services:
    """The same database and clock, restarted with another DATA_KEY setting."""
    settings = make_settings(services.settings.DATABASE_URL, DATA_KEY=data_key)
    return dataclasses.replace(services, settings=settings, cipher=build_cipher(settings))


async def undecryptable_values(svc: Services, cipher: DataCipher) -> dict[str, int]:
    """How many stored tokens per table `cipher` cannot open."""
    failures: dict[str, int] = {}
    async with svc.sessions() as session:
        for source in encrypted_tables():
            for row in await list_encrypted_rows(session, source, None, 1_000_000):
                for name in source.columns:
                    if row[name] is None:
                        continue
                    try:
                        cipher.decrypt_bytes(row[name])
                    except UndecryptableData:
                        failures[source.name] = failures.get(source.name, 0) + 1
    return failures


async def test_rekey_moves_every_value_and_index_to_the_new_key(
    database: Database, services: Services
) -> None:
    setup = await school_with_inboxes(services)
    person = make_person("R1")
    decided = await full_flow(services, person, setup, user_id=5_400_001)
    waiting = await open_signal(services, make_person("R2"), setup.school)
    assert await undecryptable_values(services, DataCipher([DATA_KEY])) == {}

    new_key = Fernet.generate_key().decode()
    report = await rekey_personal_data(with_key(services, f"{new_key},{DATA_KEY}"), batch=3)

    assert report.undecryptable.total() == 0
    assert {"cases", "guardians", "applications", "documents", "outbox"} <= set(report.rewritten)
    new_only = with_key(services, new_key)
    assert await undecryptable_values(new_only, new_only.cipher) == {}
    async with new_only.sessions() as session:
        guardian = await get_guardian_by_phone(session, new_only.cipher, person.phone)
        cases = {c.id: c for c in (await session.scalars(select(Case))).all()}
    assert guardian is not None
    assert cases[decided].guardian_id == guardian.id
    assert cases[decided].child_iin_hash == new_only.cipher.blind_index(person.child_iin)
    assert cases[waiting].pd_enc is not None
    # The service keeps working under the new key alone: a new signal for the same
    # guardian finds them by phone instead of creating a second guardian.
    again = await open_signal(new_only, person, setup.school)
    async with new_only.sessions() as session:
        guardians = (await session.scalars(select(Guardian))).all()
        assert (await session.get(Case, again)).guardian_id == guardian.id  # type: ignore[union-attr]
    assert len(guardians) == 2


async def test_rekey_counts_values_no_key_opens_and_rewrites_the_rest(
    database: Database, services: Services
) -> None:
    case_id = await open_signal(services, make_person("R3"), None)
    other_id = await open_signal(services, make_person("R4"), None)
    foreign = DataCipher([Fernet.generate_key().decode()]).encrypt_json({"child": {"iin": "x"}})
    async with services.sessions.begin() as session:
        await session.execute(update(Case).where(Case.id == other_id).values(pd_enc=foreign))

    new_key = Fernet.generate_key().decode()
    report = await rekey_personal_data(with_key(services, f"{new_key},{DATA_KEY}"))

    assert report.undecryptable == {"cases": 1}
    async with services.sessions() as session:
        rewritten = await session.get(Case, case_id)
        untouched = await session.get(Case, other_id)
    assert rewritten is not None and untouched is not None
    assert DataCipher([new_key]).decrypt_json(rewritten.pd_enc or b"")["child"]
    assert untouched.pd_enc == foreign


async def test_rekey_leaves_a_row_the_service_rewrote_meanwhile(
    database: Database, services: Services
) -> None:
    case_id = await open_signal(services, make_person("R5"), None)
    [cases] = [source for source in encrypted_tables() if source.name == "cases"]
    async with services.sessions() as session:
        [read] = [
            row
            for row in await list_encrypted_rows(session, cases, None, 100)
            if row["id"] == case_id
        ]
    newer = services.cipher.encrypt_json({"child": {"iin": "written by the service"}})
    async with services.sessions.begin() as session:
        await session.execute(update(Case).where(Case.id == case_id).values(pd_enc=newer))

    async with services.sessions.begin() as session:
        stale = {"pd_enc": read["pd_enc"]}
        written = await replace_if_unchanged(
            session, cases, case_id, stale, {"pd_enc": services.cipher.rotate(read["pd_enc"])}
        )
    assert written is False
    async with services.sessions() as session:
        assert (await session.get(Case, case_id)).pd_enc == newer  # type: ignore[union-attr]


def test_rekey_command_reports_and_fails_while_a_key_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = DATA_KEY, Fernet.generate_key().decode()
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'rekey.db'}")
    monkeypatch.setenv("SIGNAL_SECRETS", SIGNAL_SECRET.decode())

    async def seed() -> None:
        async with open_services(
            make_settings(f"sqlite+aiosqlite:///{tmp_path / 'rekey.db'}")
        ) as svc:
            await open_signal(svc, make_person("R6"), None)

    asyncio.run(seed())

    monkeypatch.setenv("DATA_KEY", f"{new},{old}")
    assert main(["rekey"]) == 0
    out = capsys.readouterr().out
    assert "re-encrypted 2 rows under the first key (cases 1, guardians 1)" in out
    assert "they can be removed" in out

    monkeypatch.setenv("DATA_KEY", new)
    assert main(["rekey"]) == 0

    monkeypatch.setenv("DATA_KEY", Fernet.generate_key().decode())
    assert main(["rekey"]) == 1
    err = capsys.readouterr().err
    assert "2 rows need a key that is not in DATA_KEY (cases 1, guardians 1)" in err


@pytest.mark.redis
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_rekey_rewrites_dialog_data_kept_in_redis(
    database: Database, services: Services
) -> None:
    url = redis_url()
    if url is None:
        pytest.skip(NO_REDIS)
    new_key = Fernet.generate_key().decode()
    rotated = with_key(services, f"{new_key},{DATA_KEY}")
    rotated = dataclasses.replace(
        rotated, settings=rotated.settings.model_copy(update={"REDIS_URL": url})
    )
    key = StorageKey(bot_id=4_242_424, chat_id=9_001, user_id=9_001)

    def redis_storage(data_key: str) -> RedisStorage:
        settings = make_settings(services.settings.DATABASE_URL, REDIS_URL=url)
        storage = build_fsm_storage(
            settings, services.sessions, DataCipher([data_key]), services.clock
        )
        assert isinstance(storage, RedisStorage)
        return storage

    old_storage, new_storage = redis_storage(DATA_KEY), redis_storage(new_key)
    try:
        await old_storage.set_data(key, {"address": "Алматы, Абай к-сі, 10"})
        report = await rekey_personal_data(rotated)
        assert report.rewritten[REDIS_DIALOGS] >= 1
        assert await new_storage.get_data(key) == {"address": "Алматы, Абай к-сі, 10"}
    finally:
        await old_storage.redis.delete(
            *[k async for k in old_storage.redis.scan_iter(match="fsm:4242424:*")]
        )
        await old_storage.close()
        await new_storage.close()
