"""Health signals in: open cases, recognise re-sends, withdraw on revocation.

Signals are stored in batches ("group commit"): whatever arrived while the previous
transaction ran is written in the next one, with one query per table instead of one
per signal. Each case still lands together with its audit event in one transaction,
and an idle server writes a batch of one at once, so nobody waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.status import FINAL_STATUSES, CaseEvent, CaseStatus
from bot.cases.timing import next_daytime
from bot.delivery.outbox import Kind, OutgoingMessage, enqueue
from bot.errors import Conflict, NotFound
from bot.runtime import Services
from bot.services.access import guardian_lang
from bot.services.case_views import case_number, view_from_data
from bot.services.first_contact import FirstContact, GuardianRef, plan_first_contact
from bot.services.lifecycle import apply_event
from bot.services.messages import text_message
from bot.signals import Guardian as GuardianData
from bot.signals import VkkSignal, content_digest
from bot.texts import DEFAULT_LANG, parse_lang
from storage.crypto import DataCipher
from storage.models import AuditEvent, Case, Guardian, LinkToken, School
from storage.repositories.audit import audit_row
from storage.repositories.cases import get_case, get_case_by_signal, lock_case
from storage.repositories.guardians import get_guardian

log = logging.getLogger(__name__)

HEALTH_SYSTEM = "health_system"
MAX_BATCH = 200


@dataclass(frozen=True)
class IntakeResult:
    case_id: str
    status: CaseStatus
    duplicate: bool


@dataclass(frozen=True)
class CaseTimeline:
    """What a peer system may know about a case: status and times, no personal data."""

    case_id: str
    status: CaseStatus
    times: dict[str, datetime | None]


async def accept_signal(svc: Services, signal: VkkSignal) -> IntakeResult:
    """Open a case for one signal (a batch of one); see `accept_signals`."""
    result = (await accept_signals(svc, [signal]))[0]
    if isinstance(result, Exception):
        raise result
    return result


async def accept_signals(
    svc: Services, signals: Sequence[VkkSignal]
) -> list[IntakeResult | Exception]:
    """Store a batch of signals in one transaction; one result per signal, in order.

    A re-send with the same content returns the existing case (duplicate); the same
    `signal_id` with other content is a Conflict: the health system must issue a new id
    or revoke, never silently change a case. When another process commits the same
    signal or guardian first, the unique constraints stop us and the batch is redone
    once against what is now stored; if it still fails, each signal is stored alone,
    so one bad row never fails its neighbours' requests.
    """
    digests = [content_digest(s.model_dump(mode="json")) for s in signals]
    for attempt in range(2):
        try:
            async with svc.sessions.begin() as session:
                return await _store_batch(session, svc, signals, digests)
        except IntegrityError:
            if attempt == 1 and len(signals) == 1:
                raise
            log.info("intake batch of %d failed a constraint; retrying", len(signals))
    return [await _store_alone(svc, signal) for signal in signals]


async def _store_alone(svc: Services, signal: VkkSignal) -> IntakeResult | Exception:
    try:
        return await accept_signal(svc, signal)
    except (Conflict, IntegrityError) as exc:
        return exc


async def _store_batch(
    session: AsyncSession, svc: Services, signals: Sequence[VkkSignal], digests: list[str]
) -> list[IntakeResult | Exception]:
    now = svc.clock.now()
    known = await _cases_by_signal(session, [s.signal_id for s in signals])
    guardians = await _guardians(session, svc.cipher, signals, now)
    schools = await _schools_by_bin(session, [s.school.bin for s in signals if s.school])
    results: list[IntakeResult | Exception] = []
    batch = _NewCases()
    for signal, digest in zip(signals, digests, strict=True):
        existing = known.get(signal.signal_id)
        if existing is not None:
            results.append(_resend_result(existing, digest))
            continue
        guardian = guardians[signal.guardian.phone]
        school = schools.get(signal.school.bin) if signal.school else None
        row = _new_case_row(svc.cipher, signal, digest, guardian.id, school, now)
        view = view_from_data(
            row["id"],
            CaseStatus.RECEIVED,
            case_personal_data(signal),
            school,
            row["grade"],
            None,
            guardian.language,
        )
        batch.add(row, plan_first_contact(svc, view, guardian, signal.guardian.phone, now), now)
        known[signal.signal_id] = _KnownCase(row["id"], digest, CaseStatus(row["status"]))
        results.append(IntakeResult(row["id"], CaseStatus(row["status"]), duplicate=False))
    await batch.write(session, svc, now)
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

    async def write(self, session: AsyncSession, svc: Services, now: datetime) -> None:
        if not self.cases:
            return
        connection = await session.connection()
        await connection.execute(insert(Case.__table__), self.cases)
        await connection.execute(insert(AuditEvent.__table__), self.audit)
        if self.tokens:
            await connection.execute(insert(LinkToken.__table__), self.tokens)
        await enqueue(session, svc.cipher, now, *self.messages)
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
        await connection.execute(insert(Guardian.__table__), rows)
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
    statement = (
        update(Guardian.__table__)
        .where(Guardian.__table__.c.id == bindparam("gid"))
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
        "pd_enc": cipher.encrypt_json(case_personal_data(signal)),
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


def case_personal_data(signal: VkkSignal) -> dict[str, Any]:
    """The encrypted part of a case: everything that names or describes the child."""
    return {
        "child": signal.child.model_dump(mode="json"),
        "guardian": {"full_name": signal.guardian.full_name, "iin": signal.guardian.iin},
        "conclusion": signal.conclusion.model_dump(mode="json"),
    }


def read_case_personal_data(cipher: DataCipher, case: Case) -> dict[str, Any] | None:
    """Decrypt a case's personal data; None once the retention purge has removed it."""
    return cipher.decrypt_json(case.pd_enc) if case.pd_enc else None


class SignalIntake:
    """Queues signals from concurrent requests and stores them in group commits."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc
        self._queue: asyncio.Queue[tuple[VkkSignal, asyncio.Future[IntakeResult]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="signal-intake")

    async def stop(self) -> None:
        """Finish what is queued (those requests are waiting for an answer), then stop."""
        if self._writer is None:
            return
        await self._queue.join()
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None

    async def submit(self, signal: VkkSignal) -> IntakeResult:
        if self._writer is None:
            return await accept_signal(self._svc, signal)
        future: asyncio.Future[IntakeResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((signal, future))
        return await future

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[tuple[VkkSignal, asyncio.Future[IntakeResult]]]) -> None:
        try:
            results = await accept_signals(self._svc, [signal for signal, _ in batch])
        except Exception as exc:
            log.exception("storing a batch of %d signals failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


async def revoke_signal(svc: Services, signal_id: str) -> IntakeResult:
    """Cancel the case of a withdrawn conclusion, unless it is already closed.

    Revoking twice answers like the first time, so the health system can retry safely.
    """
    async with svc.sessions.begin() as session:
        found = await get_case_by_signal(session, signal_id)
        case = await lock_case(session, found.id) if found else None
        if case is None:
            raise NotFound("signal.unknown", f"no case for signal {signal_id}")
        status = CaseStatus(case.status)
        if status is CaseStatus.CANCELLED:
            return IntakeResult(case.id, status, duplicate=True)
        if status in FINAL_STATUSES:
            raise Conflict("signal.already_decided", f"the case is already {status.value}")
        now = svc.clock.now()
        new = apply_event(session, case, CaseEvent.REVOKED, actor=HEALTH_SYSTEM, now=now)
        case.closed_at = now
        await _tell_guardian_cancelled(session, svc, case, now)
        return IntakeResult(case.id, new, duplicate=False)


async def _tell_guardian_cancelled(
    session: AsyncSession, svc: Services, case: Case, now: datetime
) -> None:
    """A guardian who already heard about the case learns it was withdrawn (in daytime)."""
    guardian = await get_guardian(session, case.guardian_id)
    if guardian is None or guardian.chat_id is None or case.notified_at is None:
        return
    text = svc.texts(guardian_lang(guardian), "result.cancelled", case_number=case_number(case.id))
    message = text_message(
        f"cancelled:{case.id}", Kind.RESULT, guardian.chat_id, text, case_id=case.id
    )
    await enqueue(session, svc.cipher, now, replace(message, not_before=next_daytime(now)))


async def case_timeline(svc: Services, case_id: str) -> CaseTimeline:
    """Status and milestones of one case for the health system."""
    async with svc.sessions() as session:
        case = await get_case(session, case_id)
    if case is None:
        raise NotFound("case.unknown", f"no case {case_id}")
    times = {
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "notified_at": case.notified_at,
        "consented_at": case.consented_at,
        "submitted_at": case.submitted_at,
        "registered_at": case.registered_at,
        "deadline_at": case.deadline_at,
        "forwarded_at": case.forwarded_at,
        "decided_at": case.decided_at,
        "closed_at": case.closed_at,
    }
    return CaseTimeline(case.id, CaseStatus(case.status), times)
