"""The retention purge on SQLite and PostgreSQL, checked on the raw rows of every table.

Encrypted columns would hide a clear-text IIN from a plain `LIKE`, so the scan also
decrypts every binary value it can: a purged case must leave nothing that decrypts (or
reads) to the child's IIN, name or keyed IIN hash, or the guardian's phone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select, text

from bot.clock import FrozenClock
from bot.domain.identifiers import sex_from_iin
from bot.domain.status import CaseStatus
from bot.grammar import Case, ru_name
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.stats import collect_stats
from bot.usecases.web_identity import open_session, send_code
from scheduler.jobs import run_purge_personal_data
from storage.crypto import UndecryptableData
from storage.models import (
    Application,
    AuditEvent,
    ConsentRecord,
    Document,
    FsmRecord,
    Guardian,
    GuardianStart,
    OutboxMessage,
    SignInCode,
    WebSession,
)
from storage.outbox import Kind
from storage.repositories.web_sessions import lock_sign_in_code
from tests.conftest import Database
from tests.factories import make_iin, make_phone
from tests.storage.case_setup import get_case_row, next_chat_id, open_case, outbox, update_case

DAY = timedelta(days=1)
TABLES = (
    "cases",
    "guardians",
    "applications",
    "documents",
    "consent_records",
    "outbox",
    "audit_events",
    "fsm_states",
    "guardian_starts",
    "link_tokens",
)


async def rows_mentioning(
    database: Database, svc: Services, secrets: Iterable[str]
) -> dict[str, int]:
    """Per table, how many rows contain any of `secrets` in clear or once decrypted."""
    needles = [s for s in secrets if s]
    found: dict[str, int] = {}
    async with database.engine.connect() as conn:
        for table in TABLES:
            for row in (await conn.execute(text(f"SELECT * FROM {table}"))).all():
                values = " ".join(_readable(svc, value) for value in row)
                if any(needle in values for needle in needles):
                    found[table] = found.get(table, 0) + 1
    return found


def _readable(svc: Services, value: object) -> str:
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        with contextlib.suppress(UndecryptableData, ValueError):
            raw = svc.cipher.decrypt_bytes(raw)
        return _unescaped(raw.decode("utf-8", errors="ignore"))
    return _unescaped(str(value))


def _unescaped(value: str) -> str:
    """JSON (outbox payloads, audit details) escapes Cyrillic as \\uXXXX; undo that."""
    try:
        return json.dumps(json.loads(value), ensure_ascii=False)
    except ValueError:
        return value


async def closed_case(
    svc: Services, status: CaseStatus, *, child_name: str, child_iin: str
) -> tuple[str, list[str]]:
    """A decided case with a form, two PDFs, a consent record and sent messages.

    Returns the case id and the strings that identify the child or the guardian.
    """
    chat_id = next_chat_id()
    case_id = await open_case(
        svc, chat_id=chat_id, child={"full_name": child_name, "iin": child_iin}
    )
    now = svc.clock.now()
    await update_case(
        svc,
        case_id,
        status=status.value,
        notified_at=now,
        decided_at=now,
        closed_at=now,
        refusal_reason_enc=svc.cipher.encrypt_text(f"Отказ: {child_name} {child_iin}"),
        hearing_reason_enc=svc.cipher.encrypt_text(f"Предварительно: {child_name[::-1]}"),
        hearing_position_enc=svc.cipher.encrypt_text(f"Позиция: {child_iin[::-1]}"),
    )
    pdf = f"%PDF application for {child_name}, IIN {child_iin}".encode()
    async with svc.sessions.begin() as session:
        session.add(
            Application(
                case_id=case_id,
                language="ru",
                fields_enc=svc.cipher.encrypt_json({"address": "Алматы", "child": child_name}),
                created_at=now,
                updated_at=now,
                confirmed_at=now,
            )
        )
        for kind in ("application", "receipt"):
            session.add(
                Document(
                    case_id=case_id,
                    kind=kind,
                    language="ru",
                    content_enc=svc.cipher.encrypt_bytes(pdf),
                    sha256=hashlib.sha256(pdf).hexdigest(),
                    created_at=now,
                )
            )
        session.add(
            ConsentRecord(
                case_id=case_id,
                choice="agree",
                text_version="v1",
                text_sha256="0" * 64,
                telegram_user_id=chat_id,
                created_at=now,
            )
        )
    await _mark_outbox_sent(svc, case_id)
    case = await get_case_row(svc, case_id)
    async with svc.sessions() as session:
        guardian = await session.get(Guardian, case.guardian_id)
    assert guardian is not None and guardian.pd_enc is not None
    phone = svc.cipher.decrypt_json(guardian.pd_enc)["phone"]
    # The Russian notice names the child in the dative («ребёнку …»): that form too.
    in_notice = ru_name(child_name, Case.DATIVE, sex_from_iin(child_iin))
    heard = [child_name[::-1], child_iin[::-1]]  # only in the hearing's columns
    return case_id, [
        child_name,
        in_notice,
        child_iin,
        svc.cipher.blind_index(child_iin),
        phone,
        *heard,
    ]


async def _mark_outbox_sent(svc: Services, case_id: str) -> None:
    async with svc.sessions.begin() as session:
        for row in await session.scalars(
            select(OutboxMessage).where(OutboxMessage.case_id == case_id)
        ):
            row.status, row.sent_at = "sent", svc.clock.now()


async def test_purge_after_retention_erases_case_and_keeps_statistics(
    database: Database, services: Services, clock: FrozenClock
) -> None:
    start = clock.now()
    old_id, old_secrets = await closed_case(
        services, CaseStatus.REFUSED, child_name="Ерасыл Бекұлы", child_iin=make_iin()
    )
    assert await outbox(services, kind=Kind.NOTICE, case_id=old_id)  # a payload to erase
    clock.set(start + 200 * DAY)
    recent_id, recent_secrets = await closed_case(
        services, CaseStatus.ACCEPTED, child_name="Дана Серікқызы", child_iin=make_iin()
    )
    async with services.sessions.begin() as session:
        session.add_all(
            [
                FsmRecord(key="old", state="s", updated_at=start),
                FsmRecord(key="fresh", state="s", updated_at=start + 200 * DAY),
                GuardianStart(telegram_user_id=9_000_001, language="ru", updated_at=start),
                GuardianStart(telegram_user_id=9_000_002, updated_at=start + 200 * DAY),
            ]
        )
    before = await collect_stats(services)
    assert set(await rows_mentioning(database, services, old_secrets)) >= {
        "cases",
        "guardians",
        "applications",
        "documents",
        "outbox",
    }

    clock.set(start + 365 * DAY - timedelta(minutes=1))
    assert await run_purge_personal_data(services) == 0
    clock.set(start + 365 * DAY + timedelta(minutes=1))
    assert await run_purge_personal_data(services) == 1
    assert await run_purge_personal_data(services) == 0

    assert await rows_mentioning(database, services, old_secrets) == {}
    recent_rows = await rows_mentioning(database, services, recent_secrets)
    assert {"cases", "guardians", "applications", "documents", "outbox"} <= set(recent_rows)
    after = await collect_stats(services)
    assert after.by_status == before.by_status
    assert (after.consented, after.consent_answered) == (before.consented, before.consent_answered)
    assert after.signal_to_notice == before.signal_to_notice
    old = await get_case_row(services, old_id)
    assert old.status == CaseStatus.REFUSED.value
    assert (old.closed_at, old.purged_at) == (start, clock.now())
    assert (await get_case_row(services, recent_id)).purged_at is None
    async with services.sessions() as session:
        hashes = (
            await session.scalars(select(Document.sha256).where(Document.case_id == old_id))
        ).all()
        events = (
            await session.scalars(select(AuditEvent.event).where(AuditEvent.case_id == old_id))
        ).all()
        guardian = await session.get(Guardian, old.guardian_id)
        fsm_keys = (await session.scalars(select(FsmRecord.key))).all()
        starts = (await session.scalars(select(GuardianStart.telegram_user_id))).all()
    assert len(hashes) == 2 and all(len(h) == 64 for h in hashes)
    assert "personal_data_purged" in events
    assert guardian is not None and guardian.chat_id is not None  # link kept for new signals
    assert fsm_keys == ["fresh"]
    assert starts == [9_000_002]


async def test_purge_keeps_guardian_data_while_another_case_is_open(
    database: Database, services: Services, clock: FrozenClock
) -> None:
    start = clock.now()
    phone = make_phone()
    chat_id = next_chat_id()
    first = await open_case(services, chat_id=chat_id, guardian={"phone": phone})
    await update_case(services, first, status=CaseStatus.EXPIRED.value, closed_at=start)
    clock.set(start + 300 * DAY)
    second = await open_case(services, guardian={"phone": phone})
    assert (await get_case_row(services, second)).guardian_id == (
        await get_case_row(services, first)
    ).guardian_id

    clock.set(start + 366 * DAY)
    assert await run_purge_personal_data(services) == 1

    assert await rows_mentioning(database, services, [phone]) == {"guardians": 1}
    assert (await get_case_row(services, second)).pd_enc is not None
    assert (await get_case_row(services, first)).pd_enc is None


async def test_purge_drops_ended_web_sessions_and_idle_sign_in_codes(
    services: Services, clock: FrozenClock
) -> None:
    """Sessions go at their end, code rows once idle for longer than a lock lasts; a
    locked subject keeps its row (and its lock) until the lock is over."""
    start = clock.now()
    async with services.sessions.begin() as session:
        await send_code(session, services, "staff:idle", None, Lang.RU)
        await send_code(session, services, "staff:locked", None, Lang.RU)
        open_session(session, services, "school", timedelta(hours=8))
        open_session(session, services, "guardian", timedelta(hours=24))
    async with services.sessions.begin() as session:
        locked = await lock_sign_in_code(session, "staff:locked")
        assert locked is not None
        locked.locked_until = start + timedelta(hours=10)

    async def left() -> tuple[list[str], list[str]]:
        async with services.sessions() as session:
            codes = await session.scalars(select(SignInCode.subject).order_by(SignInCode.id))
            audiences = await session.scalars(select(WebSession.audience).order_by(WebSession.id))
            return list(codes.all()), list(audiences.all())

    clock.set(start + timedelta(minutes=30))
    await run_purge_personal_data(services)
    assert await left() == (["staff:idle", "staff:locked"], ["school", "guardian"])

    clock.set(start + timedelta(hours=9))
    await run_purge_personal_data(services)
    assert await left() == (["staff:locked"], ["guardian"])

    clock.set(start + timedelta(hours=25))
    await run_purge_personal_data(services)
    assert await left() == ([], [])
