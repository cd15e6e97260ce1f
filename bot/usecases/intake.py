"""Health signals in: open cases, recognise re-sends, withdraw on revocation.

Signals are stored in batches ("group commit"): whatever arrived while the previous
transaction ran is written in the next one, with one query per table instead of one
per signal. Each case still lands together with its audit event in one transaction,
and an idle server writes a batch of one at once, so nobody waits for a batch to fill.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseStatus
from bot.errors import Conflict
from bot.runtime import Opening
from bot.signals import Guardian as GuardianData
from bot.signals import VkkSignal, content_digest
from bot.texts import DEFAULT_LANG, parse_lang
from bot.usecases.case_views import view_from_data
from bot.usecases.first_contact import FirstContact, GuardianRef, plan_first_contact
from storage.crypto import DataCipher
from storage.models import AuditEvent, Case, Guardian, LinkToken, School, table_of
from storage.outbox import OutgoingMessage, enqueue
from storage.repositories.audit import audit_row

log = logging.getLogger(__name__)

HEALTH_SYSTEM = "health_system"
MAX_BATCH = 200


@dataclass(frozen=True)
class IntakeResult:
    case_id: str
    status: CaseStatus
    duplicate: bool


async def accept_signal(opening: Opening, signal: VkkSignal) -> IntakeResult:
    """Open a case for one signal (a batch of one); see `accept_signals`."""
    result = (await accept_signals(opening, [signal]))[0]
    if isinstance(result, Exception):
        raise result
    return result


async def accept_signals(
    opening: Opening, signals: Sequence[VkkSignal]
) -> list[IntakeResult | Exception]:
    """Store a batch of signals in one transaction; one result per signal, in order.

    A re-send with the same content returns the existing case (duplicate); the same
    `signal_id` with other content is a Conflict: the health system must issue a new id
    or revoke, never silently change a case. When another process commits the same
    signal or guardian first, the unique constraints stop us and the batch is redone
    once against what is now stored; if it still fails, each signal is stored alone,
    so one bad row never fails its neighbours' requests.
    """
    dumps = [signal.model_dump(mode="json") for signal in signals]
    received = [
        _Received(signal, content_digest(dump), case_personal_data(dump))
        for signal, dump in zip(signals, dumps, strict=True)
    ]
    for attempt in range(2):
        try:
            async with opening.sessions.begin() as session:
                return await _store_batch(session, opening, received)
        except IntegrityError:
            if attempt == 1 and len(signals) == 1:
                raise
            log.info("intake batch of %d failed a constraint; retrying", len(signals))
    return [await _store_alone(opening, signal) for signal in signals]


async def _store_alone(opening: Opening, signal: VkkSignal) -> IntakeResult | Exception:
    try:
        return await accept_signal(opening, signal)
    except (Conflict, IntegrityError) as exc:
        return exc


@dataclass(frozen=True)
class _Received:
    """A signal with what is derived from its validated content once per batch."""

    signal: VkkSignal
    digest: str
    personal: dict[str, Any]


async def _store_batch(
    session: AsyncSession, opening: Opening, received: Sequence[_Received]
) -> list[IntakeResult | Exception]:
    now = opening.clock.now()
    signals = [item.signal for item in received]
    known = await _cases_by_signal(session, [s.signal_id for s in signals])
    guardians = await _guardians(session, opening.cipher, signals, now)
    schools = await _schools_by_bin(session, [s.school.bin for s in signals if s.school])
    results: list[IntakeResult | Exception] = []
    batch = _NewCases()
    for item in received:
        signal, digest, personal = item.signal, item.digest, item.personal
        existing = known.get(signal.signal_id)
        if existing is not None:
            results.append(_resend_result(existing, digest))
            continue
        guardian = guardians[signal.guardian.phone]
        school = schools.get(signal.school.bin) if signal.school else None
        row = _new_case_row(opening.cipher, signal, digest, personal, guardian.id, school, now)
        view = view_from_data(
            row["id"],
            CaseStatus.RECEIVED,
            personal,
            school,
            row["grade"],
            None,
            guardian.language,
        )
        batch.add(row, plan_first_contact(opening, view, guardian, signal.guardian.phone, now), now)
        known[signal.signal_id] = _KnownCase(row["id"], digest, CaseStatus(row["status"]))
        results.append(IntakeResult(row["id"], CaseStatus(row["status"]), duplicate=False))
    await batch.write(session, opening.cipher, now)
    return results


@dataclass
class _NewCases:
    """Rows of one batch, written with one statement per table."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    messages: list[OutgoingMessage] = field(default_factory=list)

    def add(self, row: dict[str, Any], plan: FirstContact, now: datetime) -> None:
        row["status"] = plan.status.value
        self.cases.append(row)
        self.audit.append(_opening_audit(row, now))
        self.audit.extend(plan.audit)
        self.tokens.extend(plan.tokens)
        self.messages.extend(plan.messages)

    async def write(self, session: AsyncSession, cipher: DataCipher, now: datetime) -> None:
        if not self.cases:
            return
        connection = await session.connection()
        await connection.execute(insert(table_of(Case)), self.cases)
        await connection.execute(insert(table_of(AuditEvent)), self.audit)
        if self.tokens:
            await connection.execute(insert(table_of(LinkToken)), self.tokens)
        await enqueue(session, cipher, now, *self.messages)
        for row in self.cases:
            log.info("case opened from signal", extra={"case_id": row["id"]})


@dataclass(frozen=True)
class _KnownCase:
    id: str
    digest: str
    status: CaseStatus


def _resend_result(existing: _KnownCase, digest: str) -> IntakeResult | Conflict:
    if existing.digest != digest:
        return Conflict("signal.conflict", "signal_id was already used for other content")
    return IntakeResult(existing.id, existing.status, duplicate=True)


async def _cases_by_signal(session: AsyncSession, signal_ids: list[str]) -> dict[str, _KnownCase]:
    rows = await session.execute(
        select(Case.signal_id, Case.id, Case.signal_digest, Case.status).where(
            Case.signal_id.in_(set(signal_ids))
        )
    )
    return {sid: _KnownCase(cid, digest, CaseStatus(status)) for sid, cid, digest, status in rows}


async def _schools_by_bin(session: AsyncSession, bins: list[str]) -> dict[str, School]:
    if not bins:
        return {}
    rows = await session.execute(select(School).where(School.bin.in_(set(bins))))
    return {school.bin: school for school in rows.scalars()}


async def _guardians(
    session: AsyncSession, cipher: DataCipher, signals: Sequence[VkkSignal], now: datetime
) -> dict[str, GuardianRef]:
    """Find or create the guardian of every signal, keyed by E.164 phone.

    New guardians go in with one executemany and are read back with one query: SQLite
    cannot return generated ids from a multi-row insert in order, and a row-by-row
    insert costs a thread round trip per signal.
    """
    found = await _guardians_by_phone(session, cipher, {s.guardian.phone for s in signals})
    latest = {s.guardian.phone: s.guardian for s in signals}
    if found:
        await _refresh_known_guardians(session, cipher, found, latest, now)
    missing = {phone: person for phone, person in latest.items() if phone not in found}
    if missing:
        rows = [_new_guardian_row(cipher, person, now) for person in missing.values()]
        connection = await session.connection()
        await connection.execute(insert(table_of(Guardian)), rows)
        found.update(await _guardians_by_phone(session, cipher, set(missing)))
    return found


async def _refresh_known_guardians(
    session: AsyncSession,
    cipher: DataCipher,
    found: dict[str, GuardianRef],
    latest: dict[str, GuardianData],
    now: datetime,
) -> None:
    """Keep the health system's latest name and IIN for a known phone.

    A guardian who linked the bot before any signal, or whose data the retention purge
    erased, gets them (back) here: letters and SMS need the name and the number.
    """
    rows = []
    for phone, ref in found.items():
        fresh = _new_guardian_row(cipher, latest[phone], now)
        rows.append({"gid": ref.id, "iin": fresh["iin_hash"], "pd": fresh["pd_enc"], "at": now})
    guardians = table_of(Guardian)
    statement = (
        update(guardians)
        .where(guardians.c.id == bindparam("gid"))
        .values(iin_hash=bindparam("iin"), pd_enc=bindparam("pd"), updated_at=bindparam("at"))
    )
    connection = await session.connection()
    await connection.execute(statement, rows)


async def _guardians_by_phone(
    session: AsyncSession, cipher: DataCipher, phones: set[str]
) -> dict[str, GuardianRef]:
    by_hash = {h: phone for phone in phones for h in cipher.blind_indexes(phone)}
    rows = await session.execute(
        select(
            Guardian.phone_hash,
            Guardian.id,
            Guardian.chat_id,
            Guardian.language,
            Guardian.unreachable_at,
        ).where(Guardian.phone_hash.in_(by_hash))
    )
    return {
        by_hash[phone_hash]: GuardianRef(
            id=guardian_id,
            chat_id=chat_id,
            language=parse_lang(language) or DEFAULT_LANG,
            reachable=unreachable_at is None,
        )
        for phone_hash, guardian_id, chat_id, language, unreachable_at in rows
    }


def _new_guardian_row(cipher: DataCipher, person: GuardianData, now: datetime) -> dict[str, Any]:
    return {
        "phone_hash": cipher.blind_index(person.phone),
        "iin_hash": cipher.blind_index(person.iin) if person.iin else None,
        "pd_enc": cipher.encrypt_json(
            {"full_name": person.full_name, "phone": person.phone, "iin": person.iin}
        ),
        "created_at": now,
        "updated_at": now,
    }


def _new_case_row(
    cipher: DataCipher,
    signal: VkkSignal,
    digest: str,
    personal: dict[str, Any],
    guardian_id: int,
    school: School | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "signal_id": signal.signal_id,
        "signal_digest": digest,
        "guardian_id": guardian_id,
        "school_id": school.id if school else None,
        "school_bin": signal.school.bin if signal.school else None,
        "grade": signal.school.grade if signal.school else None,
        "status": CaseStatus.RECEIVED.value,
        "pd_enc": cipher.encrypt_json(personal),
        "child_iin_hash": cipher.blind_index(signal.child.iin),
        "issued_at": signal.issued_at,
        "created_at": now,
        "updated_at": now,
        "reminders_sent": 0,
    }


def _opening_audit(case: dict[str, Any], now: datetime) -> dict[str, Any]:
    return audit_row(
        case_id=case["id"],
        at=now,
        actor=HEALTH_SYSTEM,
        event="signal_received",
        to_status=CaseStatus.RECEIVED.value,
        details={"signal_id": case["signal_id"], "school_known": case["school_id"] is not None},
    )


def case_personal_data(dump: dict[str, Any]) -> dict[str, Any]:
    """The encrypted part of a case: everything that names or describes the child, taken
    from the signal's JSON dump (the one its content digest is made of)."""
    guardian = dump["guardian"]
    return {
        "child": dump["child"],
        "guardian": {"full_name": guardian["full_name"], "iin": guardian["iin"]},
        "conclusion": dump["conclusion"],
    }
