"""One-time codes and links, secrets stored only as hashes, and replayed signed requests.

- a school's `/link` code works once, for 72 hours, and only its SHA-256 is stored;
- a decision-API key and a guardian's deep-link token are stored only as SHA-256;
- a signed health-system request captured on the wire is useless after 300 s, and a
  replay inside the window is an idempotent duplicate, never a second case.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.clock import FrozenClock
from bot.runtime import Services
from bot.signing import signed_headers
from bot.texts import Lang
from bot.usecases.identity import TokenCheck, link_by_contact
from bot.usecases.schools import LinkOutcome, create_school_invite, link_staff_chat
from storage.models import Case, LinkToken, School, StaffChat
from storage.outbox import Kind
from tests.conftest import SIGNAL_SECRET, Database
from tests.factories import signal_payload, signed
from tests.security.flow import (
    actor,
    case_status,
    link_guardian,
    make_person,
    open_signal,
    school_with_inboxes,
    table_values,
    with_sms,
)
from tests.storage.case_setup import add_school, outbox, payload_of

Client = TestClient[web.Request, web.Application]
SIGNALS = "/api/v1/signals/vkk"
WINDOW_S = 300


def sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def deep_link_token(svc: Services, case_id: str) -> str:
    """The token in the deep link of the case's SMS (its only clear-text copy)."""
    (sms,) = await outbox(svc, kind=Kind.SMS_LINK, case_id=case_id)
    return str(payload_of(svc, sms)["text"].split("start=")[1].split()[0])


async def staff_chat_school(svc: Services, chat_id: int) -> int | None:
    async with svc.sessions() as session:
        return await session.scalar(select(StaffChat.school_id).where(StaffChat.chat_id == chat_id))


# --- school invite codes -------------------------------------------------------------------


async def test_link_code_works_once(database: Database, services: Services) -> None:
    school = await add_school(services)
    invite = await create_school_invite(services, school.bin)

    first = await link_staff_chat(services, invite.code, -900_001, 11)
    reused = await link_staff_chat(services, invite.code, -900_002, 12)
    unknown = await link_staff_chat(services, "ZZZZ-ZZZZ-ZZZZ", -900_003, 13)

    assert [first.outcome, reused.outcome, unknown.outcome] == [
        LinkOutcome.LINKED,
        LinkOutcome.USED,
        LinkOutcome.UNKNOWN_CODE,
    ]
    assert await staff_chat_school(services, -900_001) == school.id
    assert await staff_chat_school(services, -900_002) is None
    assert await staff_chat_school(services, -900_003) is None


async def test_link_code_expires_after_72_hours(
    database: Database, services: Services, clock: FrozenClock
) -> None:
    school = await add_school(services)
    late = await create_school_invite(services, school.bin)
    in_time = await create_school_invite(services, school.bin)

    clock.advance(timedelta(hours=72) - timedelta(minutes=1))
    assert (await link_staff_chat(services, in_time.code, -900_011, 1)).linked
    clock.advance(timedelta(minutes=1))
    assert (await link_staff_chat(services, late.code, -900_012, 1)).outcome is LinkOutcome.EXPIRED
    assert await staff_chat_school(services, -900_012) is None


async def test_link_code_for_another_schools_inbox_is_refused_and_not_used_up(
    database: Database, services: Services
) -> None:
    taken = await school_with_inboxes(services)
    school = await add_school(services)
    invite = await create_school_invite(services, school.bin)

    refused = await link_staff_chat(services, invite.code, taken.staff_chat_id, 1)

    assert refused.outcome is LinkOutcome.CHAT_TAKEN
    assert await staff_chat_school(services, taken.staff_chat_id) == taken.school.id
    assert (await link_staff_chat(services, invite.code, -900_021, 1)).outcome is LinkOutcome.LINKED


# --- secrets stored only as hashes ---------------------------------------------------------


async def test_invite_codes_api_keys_and_deep_link_tokens_are_stored_only_as_sha256(
    database: Database, services: Services
) -> None:
    svc = with_sms(services)
    setup = await school_with_inboxes(svc)
    invite = await create_school_invite(svc, setup.school.bin)
    token = await deep_link_token(svc, await open_signal(svc, make_person("TK"), setup.school))
    code = invite.code.replace("-", "")

    stored = "\n".join(
        v.hex() + bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v)
        for values in (await table_values(database)).values()
        for v in values
    )
    for secret in (setup.api_key, invite.code, code, token):
        assert secret not in stored
    async with svc.sessions() as session:
        hashes = set((await session.scalars(select(LinkToken.token_hash))).all())
        key_hash = await session.scalar(
            select(School.api_key_hash).where(School.id == setup.school.id)
        )
    assert {sha256(code), sha256(token)} <= hashes
    assert key_hash == sha256(setup.api_key)


async def test_guardian_deep_link_works_once_and_never_for_another_phone(
    database: Database, services: Services, clock: FrozenClock
) -> None:
    svc = with_sms(services)
    owner, stranger, late = make_person("DL"), make_person("ST"), make_person("LT")
    token = await deep_link_token(svc, await open_signal(svc, owner, None))
    late_token = await deep_link_token(svc, await open_signal(svc, late, None))

    forwarded = await link_by_contact(svc, actor(7_001), stranger.phone, Lang.RU, token)
    used = await link_by_contact(svc, actor(7_002), owner.phone, Lang.RU, token)
    replayed = await link_by_contact(svc, actor(7_002), owner.phone, Lang.RU, token)
    clock.advance(timedelta(days=7))
    expired = await link_by_contact(svc, actor(7_003), late.phone, Lang.RU, late_token)

    assert (forwarded.token, forwarded.cases_notified) == (TokenCheck.OTHER_PHONE, 0)
    assert (used.token, used.cases_notified) == (TokenCheck.VALID, 1)
    assert replayed.token is TokenCheck.INVALID
    assert expired.token is TokenCheck.INVALID


# --- replayed signed requests --------------------------------------------------------------


async def count_cases(svc: Services) -> int:
    async with svc.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Case)) or 0)


async def test_signal_replayed_within_window_is_a_duplicate_and_after_it_is_401(
    database: Database, services: Services, clock: FrozenClock, api: Client
) -> None:
    body, headers = signed(signal_payload(), SIGNAL_SECRET, clock.timestamp())

    first = await api.post(SIGNALS, data=body, headers=headers)
    clock.advance(timedelta(seconds=WINDOW_S - 1))
    inside = await api.post(SIGNALS, data=body, headers=headers)
    clock.advance(timedelta(seconds=2))
    outside = await api.post(SIGNALS, data=body, headers=headers)

    assert [first.status, inside.status, outside.status] == [202, 200, 401]
    opened, again = await first.json(), await inside.json()
    assert (again["case_id"], again["duplicate"]) == (opened["case_id"], True)
    assert await count_cases(services) == 1


async def test_captured_new_signal_replayed_after_window_opens_no_case(
    database: Database, services: Services, clock: FrozenClock, api: Client
) -> None:
    body, headers = signed(signal_payload(), SIGNAL_SECRET, clock.timestamp())
    clock.advance(timedelta(seconds=WINDOW_S + 1))
    assert (await api.post(SIGNALS, data=body, headers=headers)).status == 401
    future = signed(signal_payload(), SIGNAL_SECRET, clock.timestamp() + WINDOW_S + 1)
    assert (await api.post(SIGNALS, data=future[0], headers=future[1])).status == 401
    assert await count_cases(services) == 0


async def test_captured_revocation_replayed_after_window_keeps_the_case(
    database: Database, services: Services, clock: FrozenClock, api: Client
) -> None:
    person = make_person("RV")
    case_id = await open_signal(services, person, None, signal_id="KZ-VKK-REPLAY-1")
    await link_guardian(services, person, 7_100)
    url = f"{SIGNALS}/KZ-VKK-REPLAY-1/revocation"
    headers = signed_headers(SIGNAL_SECRET, "POST", url, b"", clock.timestamp())
    status_url = f"/api/v1/cases/{case_id}"
    status_headers = signed_headers(SIGNAL_SECRET, "GET", status_url, b"", clock.timestamp())

    clock.advance(timedelta(seconds=WINDOW_S + 1))
    revocation = await api.post(url, data=b"", headers=headers)
    status = await api.get(status_url, headers=status_headers)

    assert [revocation.status, status.status] == [401, 401]
    assert json.loads(await status.text())["error"] == "unauthorized"
    assert (await case_status(services, case_id)).value in {"awaiting_link", "notified"}


async def test_guardian_deep_link_used_with_another_known_guardians_phone_stays_usable(
    database: Database, services: Services
) -> None:
    svc = with_sms(services)
    owner, other = make_person("O1"), make_person("O2")
    token = await deep_link_token(svc, await open_signal(svc, owner, None))
    await open_signal(svc, other, None)  # the other phone is a known guardian

    misuse = await link_by_contact(svc, actor(7_201), other.phone, Lang.RU, token)
    own = await link_by_contact(svc, actor(7_202), owner.phone, Lang.RU, token)

    assert misuse.token is TokenCheck.OTHER_PHONE
    assert (own.token, own.cases_notified) == (TokenCheck.VALID, 1)
