"""Consent on SQLite and PostgreSQL: the exact texts kept, withdrawal before and after
submission, and a decline whose later expiry says nothing that contradicts it."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select, update

from bot.clock import FrozenClock
from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases import consent
from bot.usecases.access import Actor
from bot.usecases.notices import CONSENT_VERSION, consent_text
from scheduler.jobs import run_expire_cases
from storage.models import ConsentRecord, ConsentText, OutboxMessage, School
from storage.outbox import Kind
from tests.security.flow import telegram
from tests.storage.case_setup import (
    add_school,
    get_case_row,
    mark_forwarded,
    next_chat_id,
    open_case,
    outbox,
    payload_of,
    update_case,
)

S = CaseStatus


async def notified(svc: Services, school: School, lang: str = "ru") -> tuple[str, Actor]:
    chat_id = next_chat_id()
    case_id = await open_case(svc, school=school, chat_id=chat_id, lang=lang)
    now = svc.clock.now()
    await update_case(svc, case_id, status=S.NOTIFIED.value, notified_at=now, updated_at=now)
    return case_id, Actor(telegram_user_id=chat_id, chat_id=chat_id, origin=f"u{chat_id}")


async def withdrawal_answers(svc: Services, case_id: str) -> list[OutboxMessage]:
    replies = await outbox(svc, kind=Kind.REPLY, case_id=case_id)
    return [r for r in replies if r.dedupe_key.endswith(":withdrawn")]


async def texts_kept(svc: Services) -> list[ConsentText]:
    async with svc.sessions() as session:
        return list((await session.scalars(select(ConsentText).order_by(ConsentText.id))).all())


async def choices(svc: Services, case_id: str) -> list[str]:
    async with svc.sessions() as session:
        query = select(ConsentRecord.choice).where(ConsentRecord.case_id == case_id)
        return list((await session.scalars(query.order_by(ConsentRecord.id))).all())


async def test_texts_of_the_first_version_are_in_the_migrated_database(
    services: Services,
) -> None:
    old = [t for t in await texts_kept(services) if t.version == "2026-11.1"]
    assert sorted(t.language for t in old) == ["kk", "ru"]
    for row in old:
        assert row.sha256 == hashlib.sha256(row.text.encode()).hexdigest()
        assert "<b>" in row.text and len(row.text) > 200


async def test_each_wording_is_kept_once_with_its_exact_text(services: Services) -> None:
    school = await add_school(services)
    for lang in ("ru", "ru", "kk"):
        case_id, actor = await notified(services, school, lang)
        await consent.agree(services, actor, case_id, message_id=1)
    shorter = replace(
        services, settings=services.settings.model_copy(update={"RETENTION_DAYS": 30})
    )
    case_id, actor = await notified(shorter, school, "ru")
    await consent.agree(shorter, actor, case_id, message_id=1)

    new = [t for t in await texts_kept(services) if t.version == CONSENT_VERSION]
    expected = [
        consent_text(services, Lang.RU),
        consent_text(services, Lang.KK),
        consent_text(shorter, Lang.RU),
    ]
    assert [(t.language, t.sha256, t.text) for t in new] == [
        (e.language.value, e.sha256, e.text) for e in expected
    ]
    assert "365 дней" in new[0].text and "30 дней" in new[2].text
    assert "365 күн" in new[1].text
    assert "/withdraw" in new[0].text and "/withdraw" in new[1].text


async def test_decline_says_the_way_back_once_and_the_expiry_stays_silent(
    services: Services, clock: FrozenClock
) -> None:
    school = await add_school(services)
    case_id, actor = await notified(services, school)
    await consent.decline(services, actor, case_id, message_id=1, present=telegram(services))

    [answer] = await outbox(services, kind=Kind.REPLY, case_id=case_id)
    text = payload_of(services, answer)["params"]["text"]
    assert "Последний срок: 02.12.2026 10:00" in text
    clock.advance(timedelta(days=7))
    assert await run_expire_cases(services) == 1

    assert (await get_case_row(services, case_id)).status == S.EXPIRED.value
    assert await outbox(services, kind=Kind.RESULT, case_id=case_id) == []
    assert len(await outbox(services, case_id=case_id)) == 2  # the notice and that answer


async def test_withdraw_before_submission_closes_the_case_on_ground_3(
    services: Services,
) -> None:
    school = await add_school(services, staff_chats=(next_chat_id(),))
    case_id, actor = await notified(services, school)
    await consent.agree(services, actor, case_id, message_id=1)

    assert (
        await consent.withdraw(services, actor, case_id, message_id=2, present=telegram(services))
        is True
    )

    assert (await get_case_row(services, case_id)).status == S.DECLINED.value
    assert await choices(services, case_id) == ["agree", "withdraw"]
    [answer] = [
        r
        for r in await outbox(services, kind=Kind.REPLY, case_id=case_id)
        if "withdrawn" in r.dedupe_key
    ]
    text = payload_of(services, answer)["params"]["text"]
    assert services.texts(Lang.RU, "ground.3") in text
    assert await outbox(services, kind=Kind.SCHOOL_NOTICE) == []


async def test_withdraw_after_submission_tells_the_guardian_and_every_inbox(
    services: Services, clock: FrozenClock
) -> None:
    staff_chat = next_chat_id()
    school = await add_school(services, staff_chats=(staff_chat,))
    async with services.sessions.begin() as session:
        await session.execute(
            update(School)
            .where(School.id == school.id)
            .values(
                webhook_url="https://school.example.kz/hook",
                webhook_secret_enc=services.cipher.encrypt_text("secret"),
            )
        )
    case_id, actor = await notified(services, school)
    await consent.agree(services, actor, case_id, message_id=1)
    await mark_forwarded(services, case_id, clock.now() + timedelta(days=2))

    assert (
        await consent.withdraw(services, actor, case_id, message_id=2, present=telegram(services))
        is False
    )

    assert (await get_case_row(services, case_id)).status == S.FORWARDED.value
    assert await choices(services, case_id) == ["agree", "withdraw"]
    notices = await outbox(services, kind=Kind.SCHOOL_NOTICE, case_id=case_id)
    assert sorted(r.channel for r in notices) == ["telegram", "webhook"]
    [chat] = [r for r in notices if r.channel == "telegram"]
    assert chat.recipient == str(staff_chat)
    [hook] = [r for r in notices if r.channel == "webhook"]
    body = payload_of(services, hook)["body"]
    assert (body["event"], body["case_id"]) == ("consent_withdrawn", case_id)
    [told] = [
        r
        for r in await outbox(services, kind=Kind.REPLY, case_id=case_id)
        if "withdrawn" in r.dedupe_key
    ]
    assert "Мы сообщили об этом школе" in payload_of(services, told)["params"]["text"]
