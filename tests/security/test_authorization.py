"""Who may see and act on a case: guardians, school staff chats and school API keys.

Buttons carry no authority: callback data is forged here the way a modified client
would send it, for a case that exists and is in exactly the state the button expects,
so the only thing that can refuse it is the identity check. A refusal must change
nothing and tell the caller nothing about the case.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.domain.choices import Step
from bot.domain.status import CaseStatus
from bot.errors import DomainError
from bot.runtime import Deciding, Services
from bot.usecases import consent, form_answers, guardian_chat, staff
from bot.usecases.access import Actor, web_guardian
from bot.usecases.prompts import Prompt, render_parts
from bot.usecases.schools import issue_school_api_key
from handlers.telegram.callbacks import CaseAction
from storage.models import Application, AuditEvent, Case, ConsentRecord, OutboxMessage
from tests.conftest import Database
from tests.security.flow import (
    SchoolSetup,
    actor,
    answer_address,
    case_status,
    confirm,
    deliver_due,
    forged_button,
    link_guardian,
    make_person,
    open_signal,
    school_with_inboxes,
    telegram,
)

Client = TestClient[web.Request, web.Application]
OWNER, INTRUDER, STRANGER = 6_100_001, 6_100_002, 6_199_999
FORGED_ADDRESS = "ул. Подложная 1, кв. 1, г. Астана"
GuardianAction = Callable[[Services, Actor, str, int], Awaitable[object]]

# (button or answer, the status in which the owner could use it, the service call)


def typed(step: Step, text: str) -> GuardianAction:
    """A typed answer to `step`, presented in the chat as the bot's handlers do."""
    return lambda s, a, c, _: form_answers.answer(
        s.sessions, s.clock, s.cipher, a, c, step, text, present=telegram(s)
    )


def chosen(step: Step, value: str | None) -> GuardianAction:
    """A pressed choice of `step` (`value` None: the school of the test's setup)."""
    return lambda s, a, c, school: form_answers.choose(
        s.sessions, s.clock, s.cipher, a, c, step, value or str(school), present=telegram(s)
    )


def skipped(step: Step) -> GuardianAction:
    return lambda s, a, c, _: form_answers.choose(
        s.sessions, s.clock, s.cipher, a, c, step, None, present=telegram(s)
    )


def edited(step: Step) -> GuardianAction:
    return lambda s, a, c, _: form_answers.edit(
        s.sessions, s.clock, s.cipher, a, c, step, present=telegram(s)
    )


GUARDIAN_ACTIONS: list[tuple[str, CaseStatus, GuardianAction]] = [
    ("agree", CaseStatus.NOTIFIED, lambda s, a, c, _: consent.agree(s, a, c, 1)),
    ("decline", CaseStatus.NOTIFIED, lambda s, a, c, _: consent.decline(s, a, c, 1)),
    ("again", CaseStatus.DECLINED, lambda s, a, c, _: consent.ask_again(s, a, c)),
    ("address", CaseStatus.CONSENTED, typed(Step.ADDRESS, FORGED_ADDRESS)),
    ("note", CaseStatus.CONSENTED, typed(Step.NOTE, "подложная заметка")),
    ("grade", CaseStatus.CONSENTED, chosen(Step.GRADE, "9")),
    ("school", CaseStatus.CONSENTED, chosen(Step.SCHOOL, None)),
    ("search", CaseStatus.CONSENTED, typed(Step.SCHOOL, "Школа")),
    ("skip_note", CaseStatus.CONSENTED, skipped(Step.NOTE)),
    ("edit", CaseStatus.CONSENTED, edited(Step.ADDRESS)),
    ("confirm", CaseStatus.CONSENTED, lambda s, a, c, _: confirm(s, a, c)),
]


async def snapshot(svc: Services, case_id: str) -> dict[str, Any]:
    """Everything a press could change about a case, decrypted."""
    async with svc.sessions() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        application = await session.scalar(
            select(Application).where(Application.case_id == case_id)
        )

        async def count(model: Any, column: Any) -> int:
            return int(await session.scalar(select(func.count()).where(column == case_id)) or 0)

        return {
            "case": {c.key: getattr(case, c.key) for c in Case.__table__.columns},
            "fields": svc.cipher.decrypt_json(application.fields_enc)
            if application and application.fields_enc
            else None,
            "consents": await count(ConsentRecord, ConsentRecord.case_id),
            "audit": await count(AuditEvent, AuditEvent.case_id),
            "outbox": await count(OutboxMessage, OutboxMessage.case_id),
        }


async def texts_sent_to(svc: Services, chat_id: int) -> list[str]:
    async with svc.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage.payload_enc).where(OutboxMessage.recipient == str(chat_id))
        )
        payloads = [svc.cipher.decrypt_text(p) for p in rows if p is not None]
    return [json.dumps(json.loads(p), ensure_ascii=False) for p in payloads]


async def owner_case_in(svc: Services, status: CaseStatus) -> tuple[str, str, SchoolSetup]:
    """The owner's case, moved by the owner to `status`; the intruder has a case too."""
    setup = await school_with_inboxes(svc)
    owner, intruder = make_person("OW"), make_person("IN")
    case_id = await open_signal(svc, owner, setup.school)
    await open_signal(svc, intruder, setup.school)
    await link_guardian(svc, owner, OWNER)
    await link_guardian(svc, intruder, INTRUDER)
    await deliver_due(svc)
    if status is CaseStatus.CONSENTED:
        await consent.agree(svc, actor(OWNER), case_id, 1)
    elif status is CaseStatus.DECLINED:
        await consent.decline(svc, actor(OWNER), case_id, 1)
    assert await case_status(svc, case_id) is status
    return case_id, owner.child_name, setup


@pytest.mark.parametrize(
    ("status", "action"),
    [(status, action) for _, status, action in GUARDIAN_ACTIONS],
    ids=[name for name, _, _ in GUARDIAN_ACTIONS],
)
async def test_guardian_forged_button_for_another_guardians_case_is_refused_and_changes_nothing(
    database: Database, services: Services, status: CaseStatus, action: GuardianAction
) -> None:
    case_id, child_name, setup = await owner_case_in(services, status)
    button = forged_button(case_id, CaseAction.AGREE)
    before = await snapshot(services, case_id)

    for intruder in (INTRUDER, STRANGER):  # another guardian, a user the bot never saw
        with pytest.raises(DomainError) as refused:
            await action(services, actor(intruder), button.case_id, setup.school.id)
        assert refused.value.text_key == "error.not_your_case"
        assert await snapshot(services, case_id) == before
        assert not any(child_name in text for text in await texts_sent_to(services, intruder))
    # The very same call by the owner is not refused as someone else's.
    await action(services, actor(OWNER), case_id, setup.school.id)


@pytest.mark.parametrize(
    ("status", "action"),
    [(status, action) for _, status, action in GUARDIAN_ACTIONS],
    ids=[name for name, _, _ in GUARDIAN_ACTIONS],
)
async def test_guardian_web_session_acts_on_its_own_case_only(
    database: Database, services: Services, status: CaseStatus, action: GuardianAction
) -> None:
    """A web session's actor owns the one case it was opened for: another case's
    session is refused, and so is the owner's own Telegram id carried by it (a web
    identity never falls back to Telegram's)."""
    case_id, _, setup = await owner_case_in(services, status)
    before = await snapshot(services, case_id)
    other_session = web_guardian(str(uuid.uuid4()), "web:intruder")
    with_owner_id = replace(other_session, telegram_user_id=OWNER, chat_id=OWNER)
    for intruder in (other_session, with_owner_id):
        with pytest.raises(DomainError) as refused:
            await action(services, intruder, case_id, setup.school.id)
        assert refused.value.text_key == "error.not_your_case"
        assert await snapshot(services, case_id) == before
    await action(services, web_guardian(case_id, "web:owner"), case_id, setup.school.id)


STATUS_OF_ONE_CASE = ["status.header", "status.item"]


async def status_of(svc: Services, user_id: int) -> Prompt:
    return await guardian_chat.tell_status(svc, actor(user_id), present=telegram(svc))


async def test_guardian_status_lists_only_own_cases(database: Database, services: Services) -> None:
    _, child_name, _ = await owner_case_in(services, CaseStatus.NOTIFIED)
    mine, theirs = await status_of(services, OWNER), await status_of(services, INTRUDER)
    stranger = await status_of(services, STRANGER)
    assert [p.key for p in mine.parts] == [p.key for p in theirs.parts] == STATUS_OF_ONE_CASE
    assert child_name in render_parts(services.texts, mine)
    assert child_name not in render_parts(services.texts, theirs)
    assert [part.key for part in stranger.parts] == ["status.none"]
    assert not any(child_name in text for text in await texts_sent_to(services, STRANGER))


async def test_guardian_replayed_consent_button_is_refused_as_stale(
    database: Database, services: Services
) -> None:
    case_id, _, _ = await owner_case_in(services, CaseStatus.NOTIFIED)
    await consent.agree(services, actor(OWNER), case_id, 1)
    before = await snapshot(services, case_id)
    with pytest.raises(DomainError) as refused:
        await consent.agree(services, actor(OWNER), case_id, 1)
    assert refused.value.text_key == "error.stale_button"
    assert await snapshot(services, case_id) == before


# --- school staff chats and API keys ------------------------------------------------------


async def forwarded_case(svc: Services) -> tuple[str, SchoolSetup, SchoolSetup]:
    """A case with school A, delivered to A's staff chat; school B has its own inboxes."""
    own, other = await school_with_inboxes(svc), await school_with_inboxes(svc)
    guardian = make_person("SF")
    case_id = await open_signal(svc, guardian, own.school)
    await link_guardian(svc, guardian, OWNER)
    await deliver_due(svc)
    await consent.agree(svc, actor(OWNER), case_id, 1)
    await answer_address(svc, actor(OWNER), case_id, guardian.address)
    assert (await confirm(svc, actor(OWNER), case_id)).purpose == "submitted"
    await deliver_due(svc)
    assert await case_status(svc, case_id) is CaseStatus.FORWARDED
    return case_id, own, other


StaffAction = Callable[[Deciding, Actor, str], Awaitable[None]]
STAFF_ACTIONS: list[tuple[str, StaffAction]] = [
    ("accept", staff.accept_in_chat),
    ("refuse", staff.ask_ground),
    ("ground", lambda s, a, c: staff.ask_reason(s, a, c, 2)),
    ("reason", lambda s, a, c: staff.refuse_in_chat(s, a, c, 2, "Документы неполные")),
]


@pytest.mark.parametrize("action", [a for _, a in STAFF_ACTIONS], ids=[n for n, _ in STAFF_ACTIONS])
@pytest.mark.parametrize("chat", ["other-school", "private"])
async def test_staff_chat_of_another_school_cannot_decide_or_see_the_case(
    database: Database, services: Services, action: StaffAction, chat: str
) -> None:
    case_id, own, other = await forwarded_case(services)
    chat_id = other.staff_chat_id if chat == "other-school" else 6_188_888
    before = await snapshot(services, case_id)

    with pytest.raises(DomainError) as refused:
        await action(services.deciding, Actor(6_177_777, chat_id, "u-forged"), case_id)

    assert refused.value.text_key == "staff.not_your_school"
    assert await snapshot(services, case_id) == before
    assert await texts_sent_to(services, chat_id) == []
    await action(services.deciding, Actor(6_177_777, own.staff_chat_id, "u-own"), case_id)


async def test_api_key_of_another_school_gets_404_and_changes_nothing(
    database: Database, services: Services, api: Client
) -> None:
    case_id, own, other = await forwarded_case(services)
    url = f"/api/v1/cases/{case_id}/decision"
    before = await snapshot(services, case_id)

    def bearer(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    foreign = await api.post(url, json={"decision": "accepted"}, headers=bearer(other.api_key))
    unknown = await api.post(url, json={"decision": "accepted"}, headers=bearer("x" * 43))
    missing = await api.post(url, json={"decision": "accepted"})
    replaced = own.api_key
    own_key = (await issue_school_api_key(services, own.school.bin)).key
    stale = await api.post(url, json={"decision": "accepted"}, headers=bearer(replaced))

    assert foreign.status == 404
    nowhere = "00000000-0000-0000-0000-000000000000"
    absent = await api.post(
        f"/api/v1/cases/{nowhere}/decision",
        json={"decision": "accepted"},
        headers=bearer(other.api_key),
    )
    # The same answer as for a case that does not exist (only the echoed id differs).
    answer = json.dumps(await foreign.json()).replace(case_id, nowhere)
    assert json.loads(answer) == await absent.json()
    # A school key is no signature: it cannot read the health system's status view.
    peek = await api.get(f"/api/v1/cases/{case_id}", headers=bearer(own_key))
    assert [unknown.status, missing.status, stale.status, peek.status] == [401] * 4
    assert await snapshot(services, case_id) == before
    accepted = await api.post(url, json={"decision": "accepted"}, headers=bearer(own_key))
    again = await api.post(url, json={"decision": "accepted"}, headers=bearer(own_key))
    assert [accepted.status, again.status] == [200, 409]
    assert await case_status(services, case_id) is CaseStatus.ACCEPTED
