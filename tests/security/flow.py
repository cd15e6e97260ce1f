"""Driving cases through the real services, as Telegram, the dispatcher and schools would.

Nothing here writes a status or a row itself: every step is a production service call.
The one stand-in is `deliver_due`, which plays the outbox dispatcher whose sends all
succeed: it marks due rows sent and runs the real delivery hooks in that transaction.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date
from typing import Any

from sqlalchemy import inspect, select, text

from bot.delivery.effects import CaseDeliveryEffects
from bot.domain.choices import Step
from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.signals import VkkSignal
from bot.texts import Lang
from bot.usecases import consent, decisions, form_answers, identity, submission
from bot.usecases.access import Actor
from bot.usecases.decisions import SchoolActor
from bot.usecases.intake import accept_signal
from bot.usecases.prompts import Prompt
from bot.usecases.schools import issue_school_api_key
from handlers.telegram.callbacks import CaseAction, CaseCb
from handlers.telegram.guardian.views import TelegramPresenter
from storage.models import Case, OutboxMessage, School
from tests.conftest import Database, make_settings
from tests.factories import make_iin, make_phone, signal_payload
from tests.storage.case_setup import add_school, next_chat_id

_updates = itertools.count(1)
ADDRESS = "г. Алматы, ул. Абая 150, кв. 12"


def telegram(svc: Services) -> TelegramPresenter:
    """The guardian's chat as the bot's handlers present to it: through the outbox."""
    return TelegramPresenter(svc.texts, svc.cipher, svc.clock)


async def answer_address(svc: Services, actor: Actor, case_id: str, address: str) -> Prompt:
    """The guardian types the address at the address question."""
    return await form_answers.answer(
        svc.sessions, svc.clock, svc.cipher, actor, case_id, Step.ADDRESS, address,
        present=telegram(svc),
    )  # fmt: skip


async def confirm(svc: Services, actor: Actor, case_id: str) -> Prompt:
    """The guardian presses the summary's confirm button."""
    return await submission.confirm(svc, actor, case_id, present=telegram(svc))


def actor(user_id: int, chat_id: int | None = None) -> Actor:
    """A Telegram user pressing or typing in a chat; each call is a new update."""
    return Actor(telegram_user_id=user_id, chat_id=chat_id or user_id, origin=f"u{next(_updates)}")


def forged_button(case_id: str, action: CaseAction) -> CaseCb:
    """Callback data as an attacker would craft it: it packs and parses like a real one."""
    return CaseCb.unpack(CaseCb(case_id=case_id, action=action).pack())


async def deliver_due(svc: Services) -> int:
    """Send every due outbox row successfully; return how many were sent."""
    effects = CaseDeliveryEffects(svc.delivering, svc.texts, svc.guardian_links)
    now = svc.clock.now()
    async with svc.sessions.begin() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
            )
        ).all()
        for row in rows:
            row.status, row.sent_at, row.attempts = "sent", now, row.attempts + 1
            await effects.delivered(session, row, None)
    return len(rows)


@dataclasses.dataclass(frozen=True)
class SchoolSetup:
    school: School
    staff_chat_id: int
    api_key: str

    @property
    def actor(self) -> SchoolActor:
        return SchoolActor(school_id=self.school.id, label=f"api:school:{self.school.id}")


async def school_with_inboxes(svc: Services) -> SchoolSetup:
    """A registry school with a staff chat and a decision-API key."""
    chat_id = -next_chat_id()
    school = await add_school(svc, staff_chats=(chat_id,))
    key = (await issue_school_api_key(svc, school.bin)).key
    return SchoolSetup(school, chat_id, key)


@dataclasses.dataclass(frozen=True)
class Person:
    """What identifies one child and guardian: none of it may be stored or logged in clear."""

    child_iin: str
    child_name: str
    guardian_iin: str
    guardian_name: str
    phone: str
    summary: str
    address: str

    def signal(self, school: School | None, **overrides: Any) -> dict[str, Any]:
        payload = signal_payload(
            child={"iin": self.child_iin, "full_name": self.child_name},
            guardian={
                "iin": self.guardian_iin,
                "full_name": self.guardian_name,
                "phone": self.phone,
            },
            conclusion={"summary": self.summary},
            **overrides,
        )
        if school is not None:
            payload["school"] = {"bin": school.bin, "grade": 5}
        return payload

    def secrets(self) -> list[str]:
        """Every value, plus the phone's other common spellings."""
        digits = self.phone.removeprefix("+")
        local = digits[1:]
        spaced = f"+7 {local[:3]} {local[3:6]} {local[6:8]} {local[8:]}"
        return [
            self.child_iin,
            self.child_name,
            self.guardian_iin,
            self.guardian_name,
            self.phone,
            digits,
            "8" + local,
            spaced,
            self.summary,
            self.address,
        ]


def make_person(tag: str) -> Person:
    """Distinctive values (no accidental match with texts or other rows)."""
    return Person(
        child_iin=make_iin(),
        child_name=f"Жанболатов Ерасыл {tag}",
        guardian_iin=make_iin(date(1987, 2, 3), female=True),
        guardian_name=f"Жанболатова Меруерт {tag}",
        phone=make_phone(),
        summary=f"Диагноз-{tag}: хроническое заболевание, обучение на дому",
        address=f"{ADDRESS} {tag}",
    )


def with_sms(services: Services) -> Services:
    """Services whose unlinked guardians get an SMS with a one-time deep link."""
    url = services.settings.DATABASE_URL
    svc = dataclasses.replace(
        services, settings=make_settings(url, SMS_GATEWAY_URL="http://sms.test")
    )
    svc.bot_profile.username = "homeschool_test_bot"
    return svc


async def open_signal(
    svc: Services, person: Person, school: School | None, **overrides: Any
) -> str:
    result = await accept_signal(
        svc.opening, VkkSignal.model_validate(person.signal(school, **overrides))
    )
    return result.case_id


async def link_guardian(svc: Services, person: Person, user_id: int) -> None:
    """The guardian opens the bot and shares their own phone number."""
    await identity.link_by_contact(svc, actor(user_id), person.phone, Lang.RU, None)


async def full_flow(svc: Services, person: Person, setup: SchoolSetup, user_id: int) -> str:
    """Signal → link → notice → consent → address → confirm → package → accepted."""
    case_id = await open_signal(svc, person, setup.school)
    await link_guardian(svc, person, user_id)
    await deliver_due(svc)
    await consent.agree(svc, actor(user_id), case_id, message_id=1)
    await answer_address(svc, actor(user_id), case_id, person.address)
    assert (await confirm(svc, actor(user_id), case_id)).purpose == "submitted"
    await deliver_due(svc)
    await decisions.accept(svc.deciding, case_id, setup.actor)
    await deliver_due(svc)
    return case_id


async def case_status(svc: Services, case_id: str) -> CaseStatus:
    async with svc.sessions() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return CaseStatus(case.status)


async def table_values(database: Database) -> dict[str, list[object]]:
    """Every non-null value of every table the database has, read with plain SQL."""
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        found: dict[str, list[object]] = {}
        for table in tables:
            rows = (await conn.execute(text(f'SELECT * FROM "{table}"'))).all()
            found[table] = [value for row in rows for value in row if value is not None]
    return found
