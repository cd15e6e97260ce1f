"""Building cases in a given state for the scheduler tests.

Cases are opened through the real intake (so their encrypted personal data, guardian
and notice are what production writes); the later state is then set through the ORM,
which is all a job looks at.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.signals import VkkSignal
from bot.usecases.intake import accept_signal
from storage.models import Case, Guardian, OutboxMessage, School, StaffChat
from storage.outbox import Kind
from tests.factories import make_bin, make_phone, signal_payload

ALMATY = ZoneInfo("Asia/Almaty")
_chat_ids = itertools.count(7_000_001)


def almaty(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ALMATY)


def next_chat_id() -> int:
    return next(_chat_ids)


async def add_school(
    svc: Services,
    *,
    staff_chats: tuple[int, ...] = (),
    escalation_chat_id: int | None = None,
    name_ru: str | None = "Школа №1",
    name_kk: str | None = None,
) -> School:
    now = svc.clock.now()
    async with svc.sessions.begin() as session:
        school = School(
            bin=make_bin(),
            name_ru=name_ru,
            name_kk=name_kk,
            escalation_chat_id=escalation_chat_id,
            created_at=now,
            updated_at=now,
        )
        session.add(school)
        await session.flush()
        for chat_id in staff_chats:
            session.add(StaffChat(school_id=school.id, chat_id=chat_id, created_at=now))
    return school


def linked_guardian_row(
    svc: Services, phone: str, chat_id: int, lang: str, now: datetime
) -> dict[str, Any]:
    """The columns of a guardian who already shared this phone in the bot (chat linked)."""
    return {
        "phone_hash": svc.cipher.blind_index(phone),
        "pd_enc": svc.cipher.encrypt_json({"full_name": None, "phone": phone, "iin": None}),
        "telegram_user_id": chat_id,
        "chat_id": chat_id,
        "language": lang,
        "created_at": now,
        "updated_at": now,
    }


async def add_linked_guardian(svc: Services, phone: str, chat_id: int, lang: str = "ru") -> int:
    """A guardian who already shared this phone in the bot (chat linked)."""
    now = svc.clock.now()
    async with svc.sessions.begin() as session:
        guardian = Guardian(**linked_guardian_row(svc, phone, chat_id, lang, now))
        session.add(guardian)
        await session.flush()
        return guardian.id


async def open_case(
    svc: Services,
    *,
    school: School | None = None,
    chat_id: int | None = None,
    lang: str = "ru",
    **overrides: Any,
) -> str:
    """Open a case from a signal; with `chat_id` its guardian is linked to that chat."""
    phone = make_phone()
    if chat_id is not None:
        await add_linked_guardian(svc, phone, chat_id, lang)
    extra: dict[str, Any] = {"guardian": {"phone": phone}, **overrides}
    if school is not None:
        extra["school"] = {"bin": school.bin, "grade": 4}
    result = await accept_signal(svc.opening, VkkSignal.model_validate(signal_payload(**extra)))
    return result.case_id


async def update_case(svc: Services, case_id: str, **values: Any) -> None:
    async with svc.sessions.begin() as session:
        await session.execute(update(Case).where(Case.id == case_id).values(**values))


async def mark_forwarded(svc: Services, case_id: str, deadline_at: datetime) -> None:
    """Move a case to where its school has it: notified, consented, submitted and
    forwarded now, due at `deadline_at`."""
    now = svc.clock.now()
    await update_case(
        svc,
        case_id,
        status=CaseStatus.FORWARDED.value,
        notified_at=now,
        consented_at=now,
        submitted_at=now,
        registered_at=now,
        forwarded_at=now,
        deadline_at=deadline_at,
        updated_at=now,
    )


async def get_case_row(svc: Services, case_id: str) -> Case:
    async with svc.sessions() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return case


async def outbox(
    svc: Services, *, kind: Kind | None = None, case_id: str | None = None
) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind.value)
    if case_id is not None:
        query = query.where(OutboxMessage.case_id == case_id)
    async with svc.sessions() as session:
        return list((await session.scalars(query)).all())


def payload_of(svc: Services, row: OutboxMessage) -> dict[str, Any]:
    assert row.payload_enc is not None
    data: dict[str, Any] = json.loads(svc.cipher.decrypt_text(row.payload_enc))
    return data
