"""Personal data at rest and in logs, the retention purge and `DATA_KEY` rotation.

Cases go through the real services on SQLite and PostgreSQL. The tables are read with
plain SQL (every table the database has, every column), so nothing the ORM would hide
or decode is missed; the SQLite files are also read as raw bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.assembly import build_cipher
from bot.clock import FrozenClock
from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases import consent, decisions, hearing
from bot.usecases.case_views import case_view
from bot.usecases.revocation import revoke_signal
from bot.usecases.stats import Stats, collect_stats
from scheduler.jobs import run_purge_personal_data
from storage.crypto import DataCipher, UndecryptableData
from storage.models import Application, Case, Document, Guardian
from storage.repositories.guardians import get_guardian_by_phone
from tests.conftest import DATA_KEY, Database, make_settings
from tests.security.flow import (
    Person,
    actor,
    answer_address,
    case_status,
    confirm,
    deliver_due,
    full_flow,
    link_guardian,
    make_person,
    open_signal,
    school_with_inboxes,
    table_values,
    with_sms,
)

REASON = "Причина-отказа: справка ВКК не соответствует"
POSITION = "Позиция-заявителя: справка ВКК верна, прошу пересмотреть"
README = Path(__file__).resolve().parents[2] / "README.md"


def spellings(value: object) -> list[str]:
    """How a stored value may read: text, bytes as UTF-8, JSON with or without escapes."""
    if isinstance(value, bytes | memoryview):
        return [bytes(value).decode("utf-8", errors="ignore")]
    if isinstance(value, dict | list):
        return [json.dumps(value, ensure_ascii=False), json.dumps(value)]
    return [str(value)]


def needles(secrets: list[str]) -> list[str]:
    """The secrets as written, and as JSON would escape them (`\\u0416...`)."""
    return secrets + [json.dumps(s).strip('"') for s in secrets if not s.isascii()]


async def clear_text_hits(database: Database, secrets: list[str]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    wanted = needles(secrets)
    for table, values in (await table_values(database)).items():
        for value in values:
            for spelled in spellings(value):
                hits.setdefault(table, []).extend(s for s in wanted if s in spelled)
    return {table: found for table, found in hits.items() if found}


def sqlite_file_hits(database: Database, secrets: list[str]) -> list[str]:
    path = Path(str(make_url(database.url).database))
    files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]
    raw = b"".join(p.read_bytes() for p in files)
    return [s for s in needles(secrets) if s.encode() in raw]


async def decrypted_hits(database: Database, svc: Services, secrets: list[str]) -> set[str]:
    """Tables where a secret is readable once every blob that decrypts is decrypted."""
    tables = set()
    for table, values in (await table_values(database)).items():
        for value in values:
            readable = spellings(value)
            if isinstance(value, bytes | memoryview):
                with contextlib.suppress(UndecryptableData):
                    readable = spellings(svc.cipher.decrypt_bytes(bytes(value)))
            wanted = needles(secrets)
            if any(s in spelled for spelled in readable for s in wanted):
                tables.add(table)
    return tables


async def test_full_flow_keeps_no_personal_data_in_clear_in_tables_files_or_logs(
    database: Database, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    services = with_sms(services)  # unlinked guardians also get an SMS with a deep link
    setup = await school_with_inboxes(services)
    accepted, refused = make_person("A1"), make_person("B2")
    await full_flow(services, accepted, setup, user_id=5_100_001)
    case_id = await open_signal(services, refused, setup.school)
    await link_guardian(services, refused, 5_100_002)
    await deliver_due(services)
    await consent.agree(services, actor(5_100_002), case_id, message_id=7)
    await answer_address(services, actor(5_100_002), case_id, refused.address)
    await confirm(services, actor(5_100_002), case_id)
    await deliver_due(services)
    await decisions.refuse(services.deciding, case_id, setup.actor, 1, REASON)
    await deliver_due(services)
    await hearing.state_position(services.deciding, actor(5_100_002), case_id, POSITION)
    await deliver_due(services)
    await decisions.refuse(services.deciding, case_id, setup.actor, 1, REASON)
    await deliver_due(services)
    assert await case_status(services, case_id) is CaseStatus.REFUSED

    secrets = [*accepted.secrets(), *refused.secrets(), REASON, POSITION]
    assert await clear_text_hits(database, secrets) == {}
    if database.backend == "sqlite":
        assert sqlite_file_hits(database, secrets) == []
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "case opened from signal" in logged  # the capture did see the flow
    assert [s for s in needles(secrets) if s in logged] == []
    # The check can see: the same values do decrypt from the encrypted columns.
    assert {"cases", "guardians", "applications", "outbox"} <= await decrypted_hits(
        database, services, secrets
    )


def comparable(stats: Stats) -> tuple[object, ...]:
    return (
        stats.by_status,
        stats.consented,
        stats.consent_answered,
        stats.signal_to_notice,
        stats.notice_to_submitted,
        stats.submitted_to_decision,
    )


async def test_retention_purge_after_real_flows_erases_personal_data_and_keeps_stats(
    database: Database, services: Services, clock: FrozenClock
) -> None:
    setup = await school_with_inboxes(services)
    accepted, revoked, declined, fresh = (make_person(t) for t in ("C3", "R7", "D4", "E5"))
    await full_flow(services, accepted, setup, user_id=5_200_001)
    revoked_id = await open_signal(services, revoked, setup.school, signal_id="KZ-VKK-R7")
    await revoke_signal(
        services.sessions, services.cipher, services.clock, services.texts, "KZ-VKK-R7"
    )
    declined_id = await open_signal(services, declined, setup.school)
    await link_guardian(services, declined, 5_200_002)
    await deliver_due(services)
    await consent.decline(services, actor(5_200_002), declined_id, message_id=3)
    clock.advance(timedelta(days=services.settings.RETENTION_DAYS))
    await open_signal(services, fresh, setup.school)
    before = await collect_stats(services)
    assert before.by_status[CaseStatus.ACCEPTED] == 1
    assert await run_purge_personal_data(services) == 0  # closed exactly one period ago

    clock.advance(timedelta(minutes=1))
    assert await run_purge_personal_data(services) == 2
    assert await run_purge_personal_data(services) == 0

    gone = [*accepted.secrets(), *revoked.secrets()]
    assert await decrypted_hits(database, services, gone) == set()
    assert "cases" in await decrypted_hits(database, services, [declined.child_iin])
    assert "cases" in await decrypted_hits(database, services, [fresh.child_iin])
    assert comparable(await collect_stats(services)) == comparable(before)
    assert await case_status(services, revoked_id) is CaseStatus.CANCELLED
    assert await case_status(services, declined_id) is CaseStatus.DECLINED


# --- DATA_KEY rotation -------------------------------------------------------------------


def rotated(services: Services, data_key: str) -> Services:
    """The same database and clock, restarted with another DATA_KEY setting."""
    settings = make_settings(services.settings.DATABASE_URL, DATA_KEY=data_key)
    return dataclasses.replace(services, settings=settings, cipher=build_cipher(settings))


async def opened_under_old_key(services: Services) -> tuple[Person, str]:
    setup = await school_with_inboxes(services)
    person = make_person("K9")
    case_id = await open_signal(services, person, setup.school)
    await link_guardian(services, person, 5_300_001)
    await deliver_due(services)
    return person, case_id


def test_readme_documents_data_key_rotation() -> None:
    section = README.read_text().split("## Data protection", 1)[1].split("\n## ", 1)[0]
    assert "DATA_KEY=<new>,<old>" in section


async def test_data_key_rotation_reads_old_data_and_writes_with_the_new_key(
    database: Database, services: Services
) -> None:
    person, case_id = await opened_under_old_key(services)
    new_key = Fernet.generate_key().decode()
    svc = rotated(services, f"{new_key},{DATA_KEY}")

    async with svc.sessions() as session:
        guardian = await get_guardian_by_phone(session, svc.cipher, person.phone)
        case = await session.get(Case, case_id)
    assert guardian is not None and case is not None
    assert case_view(svc.cipher, case, None, Lang.RU).child_name == person.child_name
    # A new signal under the rotated key reaches the guardian stored under the old one.
    second_id = await open_signal(svc, person, None)
    await consent.agree(svc, actor(5_300_001), case_id, message_id=1)
    await answer_address(svc, actor(5_300_001), case_id, person.address)
    assert (await confirm(svc, actor(5_300_001), case_id)).purpose == "submitted"

    new_only = DataCipher([new_key])
    async with svc.sessions() as session:
        application = (
            await session.scalars(select(Application).where(Application.case_id == case_id))
        ).one()
        pdf = (await session.scalars(select(Document).where(Document.case_id == case_id))).one()
        guardians = (await session.scalars(select(Guardian))).all()
        second = await session.get(Case, second_id)
    assert second is not None and second.guardian_id == guardian.id
    assert new_only.decrypt_json(second.pd_enc or b"")["child"]["iin"] == person.child_iin
    assert application.fields_enc is not None and pdf.content_enc is not None
    assert new_only.decrypt_json(application.fields_enc)["address"] == person.address
    assert new_only.decrypt_bytes(pdf.content_enc).startswith(b"%PDF")
    assert len(guardians) == 1


async def test_data_key_without_the_old_key_fails_clearly_on_old_data(
    database: Database, services: Services
) -> None:
    person, case_id = await opened_under_old_key(services)
    svc = rotated(services, Fernet.generate_key().decode())

    async with svc.sessions() as session:
        guardian = await get_guardian_by_phone(session, svc.cipher, person.phone)
        case = await session.get(Case, case_id)
    assert guardian is None  # not found rather than someone else
    assert case is not None and case.pd_enc is not None
    with pytest.raises(UndecryptableData):
        svc.cipher.decrypt_json(case.pd_enc)
    with pytest.raises(UndecryptableData):
        case_view(svc.cipher, case, None, Lang.RU)
