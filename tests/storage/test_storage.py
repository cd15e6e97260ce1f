"""Storage guarantees on SQLite and PostgreSQL: encryption at rest, blind indexes,
append-only audit trail, atomic intake, connection settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.runtime import Services
from bot.signals import VkkSignal
from bot.usecases.intake import IntakeResult, accept_signal
from storage.crypto import DataCipher, UndecryptableData
from storage.models import AuditEvent, Case, Guardian
from storage.repositories.guardians import get_guardian_by_phone
from storage.session import SQLITE_BUSY_TIMEOUT_MS
from tests.conftest import DATA_KEY, Database
from tests.factories import signal_payload

PHONE = "+77015553322"
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def sample_signal(**overrides: Any) -> VkkSignal:
    payload = signal_payload(guardian={"phone": "8 (701) 555-33-22"}, **overrides)
    payload["conclusion"]["summary"] = "Диагноз: секретная формулировка ВКК 7731"
    return VkkSignal.model_validate(payload)


def personal_values(signal: VkkSignal) -> list[str]:
    """Every spelling of personal data that must never be readable in the database."""
    assert signal.guardian.iin is not None
    return [
        signal.child.iin,
        signal.guardian.iin,
        PHONE,
        "87015553322",
        "77015553322",
        "7015553322",
        signal.child.full_name,
        signal.guardian.full_name,
        signal.conclusion.summary,
    ]


async def table_dump(database: Database) -> dict[str, list[str]]:
    """Every value of every row of every table, read with plain SQL and rendered as text."""
    dump: dict[str, list[str]] = {}
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in tables:
            rows = (await conn.execute(text(f'SELECT * FROM "{table}"'))).all()
            dump[table] = [render(value) for row in rows for value in row]
    return dump


def render(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def sqlite_file_bytes(db_file: Path, wal_file: Path) -> tuple[bytes, int]:
    """The raw bytes of the database file and its write-ahead log, and the log's size."""
    wal = wal_file.read_bytes()
    return db_file.read_bytes() + wal, len(wal)


async def count(svc: Services, model: type[Any]) -> int:
    async with svc.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def audit_trail(svc: Services) -> list[tuple[Any, ...]]:
    async with svc.sessions() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(r.id, r.case_id, r.actor, r.event, r.details) for r in rows]


# Written by the migrations themselves: the schema version and the first consent texts.
MIGRATION_DATA = {"alembic_version", "consent_texts"}


async def non_empty_tables(database: Database) -> set[str]:
    return {name for name, values in (await table_dump(database)).items() if values} - (
        MIGRATION_DATA
    )


async def stored_case(svc: Services, result: IntakeResult) -> Case:
    async with svc.sessions() as session:
        case = await session.get(Case, result.case_id)
    assert case is not None
    return case


# --- personal data at rest ----------------------------------------------------------------


async def test_storage_personal_data_not_readable_in_any_column(
    database: Database, services: Services
) -> None:
    signal = sample_signal()
    await accept_signal(services.opening, signal)

    dump = await table_dump(database)

    assert {"cases", "guardians", "audit_events"} <= set(dump)
    assert all(dump[name] for name in ("cases", "guardians", "audit_events"))
    everything = "\n".join(value for values in dump.values() for value in values)
    assert signal.signal_id in everything  # the scan does see stored values
    for value in personal_values(signal):
        assert value not in everything, value


@sqlite_only
async def test_storage_sqlite_files_hold_no_personal_data(
    database: Database, services: Services
) -> None:
    signal = sample_signal()
    await accept_signal(services.opening, signal)
    db_file = Path(make_url(database.url).database or "")
    wal_file = db_file.with_name(db_file.name + "-wal")

    raw, wal_size = sqlite_file_bytes(db_file, wal_file)

    assert wal_size > 0
    assert signal.signal_id.encode() in raw  # the committed rows are in these files
    for value in personal_values(signal):
        assert value.encode() not in raw, value


async def test_storage_cipher_decrypts_personal_data(services: Services) -> None:
    signal = sample_signal()
    case = await stored_case(services, await accept_signal(services.opening, signal))
    async with services.sessions() as session:
        guardian = await session.get(Guardian, case.guardian_id)
    assert guardian is not None and guardian.pd_enc is not None and case.pd_enc is not None
    cipher = DataCipher([DATA_KEY])

    case_data = cipher.decrypt_json(case.pd_enc)
    guardian_data = cipher.decrypt_json(guardian.pd_enc)

    assert case_data["child"] == {
        "iin": signal.child.iin,
        "full_name": signal.child.full_name,
        "birth_date": signal.child.birth_date.isoformat(),
    }
    assert case_data["guardian"] == {
        "full_name": signal.guardian.full_name,
        "iin": signal.guardian.iin,
    }
    assert case_data["conclusion"]["summary"] == "Диагноз: секретная формулировка ВКК 7731"
    assert guardian_data == {
        "full_name": signal.guardian.full_name,
        "phone": PHONE,
        "iin": signal.guardian.iin,
    }
    assert case.child_iin_hash == cipher.blind_index(signal.child.iin)


async def test_storage_blind_index_finds_guardian_by_phone(services: Services) -> None:
    case = await stored_case(services, await accept_signal(services.opening, sample_signal()))

    async with services.sessions() as session:
        found = await get_guardian_by_phone(session, DataCipher([DATA_KEY]), PHONE)
        other_phone = await get_guardian_by_phone(session, services.cipher, "+77015553323")
        other_key = await get_guardian_by_phone(
            session, DataCipher([Fernet.generate_key().decode()]), PHONE
        )

    assert found is not None and found.id == case.guardian_id
    assert (other_phone, other_key) == (None, None)


async def test_storage_rotated_key_still_finds_and_decrypts(services: Services) -> None:
    signal = sample_signal()
    case = await stored_case(services, await accept_signal(services.opening, signal))
    new_key = Fernet.generate_key().decode()
    rotated = DataCipher([new_key, DATA_KEY])
    assert case.pd_enc is not None

    async with services.sessions() as session:
        found = await get_guardian_by_phone(session, rotated, PHONE)
    re_encrypted = rotated.rotate(case.pd_enc)

    assert found is not None and found.id == case.guardian_id
    assert found.pd_enc is not None
    assert rotated.decrypt_json(found.pd_enc)["phone"] == PHONE
    assert rotated.decrypt_json(case.pd_enc)["child"]["iin"] == signal.child.iin
    assert DataCipher([new_key]).decrypt_json(re_encrypted)["child"]["iin"] == signal.child.iin
    assert rotated.blind_indexes(signal.child.iin)[1] == case.child_iin_hash
    with pytest.raises(UndecryptableData):
        DataCipher([new_key]).decrypt_json(case.pd_enc)


async def test_storage_same_guardian_phone_reuses_guardian(services: Services) -> None:
    first = await accept_signal(services.opening, sample_signal())
    second = await accept_signal(services.opening, sample_signal())

    assert first.case_id != second.case_id
    assert (await stored_case(services, first)).guardian_id == (
        await stored_case(services, second)
    ).guardian_id
    assert await count(services, Guardian) == 1


# --- audit trail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'someone else'",
        "UPDATE audit_events SET details = NULL WHERE event = 'signal_received'",
        "DELETE FROM audit_events",
    ],
    ids=["update", "update-where", "delete"],
)
async def test_storage_audit_trail_refuses_change(
    database: Database, services: Services, statement: str
) -> None:
    signal = sample_signal()
    result = await accept_signal(services.opening, signal)
    before = await audit_trail(services)

    with pytest.raises(DBAPIError, match="append-only"):
        async with database.engine.begin() as conn:
            await conn.execute(text(statement))

    assert await audit_trail(services) == before
    assert before[0][1:] == (
        result.case_id,
        "health_system",
        "signal_received",
        {"signal_id": signal.signal_id, "school_known": False},
    )


async def test_storage_audit_trail_accepts_append(database: Database, services: Services) -> None:
    result = await accept_signal(services.opening, sample_signal())
    before = await audit_trail(services)

    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_events (case_id, at, actor, event) "
                "VALUES (:case_id, CURRENT_TIMESTAMP, 'ops', 'note')"
            ),
            {"case_id": result.case_id},
        )

    after = await audit_trail(services)
    assert after[: len(before)] == before
    assert [row[1:4] for row in after[len(before) :]] == [(result.case_id, "ops", "note")]


# --- atomicity ----------------------------------------------------------------------------


FAILING_AUDIT = {
    "sqlite": [
        "CREATE TRIGGER audit_store_down BEFORE INSERT ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit store down'); END"
    ],
    "postgres": [
        "CREATE FUNCTION audit_store_down() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit store down'; END $$",
        "CREATE TRIGGER audit_store_down BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_store_down()",
    ],
}


async def test_storage_failure_at_audit_insert_leaves_nothing(
    database: Database, services: Services
) -> None:
    """The audit row is the last write of an intake; when it fails, nothing stays."""
    async with database.engine.begin() as conn:
        for statement in FAILING_AUDIT[database.backend]:
            await conn.exec_driver_sql(statement)

    with pytest.raises(DBAPIError, match="audit store down"):
        await accept_signal(services.opening, sample_signal())

    assert await non_empty_tables(database) == set()


async def test_storage_check_violation_in_intake_leaves_nothing(
    database: Database, services: Services
) -> None:
    signal = sample_signal()
    assert signal.school is not None
    signal.school.grade = 12  # assignment is not validated: only the CHECK constraint stops it

    with pytest.raises(IntegrityError, match=r"ck_cases_grade|CHECK constraint failed"):
        await accept_signal(services.opening, signal)

    assert await non_empty_tables(database) == set()


async def test_storage_foreign_keys_enforced(database: Database, services: Services) -> None:
    with pytest.raises(IntegrityError):
        async with database.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO cases (id, signal_id, signal_digest, guardian_id, status, "
                    "issued_at, created_at, updated_at, reminders_sent) VALUES "
                    "('c1', 's1', 'd', 424242, 'received', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0)"
                )
            )

    assert await count(services, Case) == 0


# --- connection settings ------------------------------------------------------------------


@sqlite_only
async def test_storage_sqlite_pragmas_are_on(database: Database) -> None:
    async with database.engine.connect() as conn:
        journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        busy_timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()

    assert (journal, foreign_keys, busy_timeout) == ("wal", 1, SQLITE_BUSY_TIMEOUT_MS)
    assert SQLITE_BUSY_TIMEOUT_MS >= 5000
