"""The health-system API of DESIGN 4.3 over real HTTP: auth, limits, validation, idempotency."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers
from handlers.http.app import build_web_app
from handlers.http.bodies import MAX_BODY_BYTES
from storage.crypto import DataCipher
from storage.models import AuditEvent, Case, Guardian
from storage.repositories.guardians import get_guardian_by_phone
from tests.conftest import DATA_KEY, SIGNAL_SECRET, Database, make_settings
from tests.factories import make_iin, signal_payload, signed

Client = TestClient[web.Request, web.Application]
SIGNALS = "/api/v1/signals/vkk"
# How a new case may start: the intake may move it on at once (e.g. to awaiting_link).
OPENING_STATUSES = {"received", "awaiting_link", "notified"}
# Checks that end before the database is touched run on SQLite only, to keep the suite fast.
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def revocation_url(signal_id: str) -> str:
    return f"{SIGNALS}/{signal_id}/revocation"


def case_url(case_id: str) -> str:
    return f"/api/v1/cases/{case_id}"


async def post_signal(
    api: Client, payload: Any, now: float, secret: bytes = SIGNAL_SECRET
) -> ClientResponse:
    body, headers = signed(payload, secret, now)
    return await api.post(SIGNALS, data=body, headers=headers)


async def signed_empty(
    api: Client, method: str, url: str, now: float, secret: bytes = SIGNAL_SECRET
) -> ClientResponse:
    """A signed request without a body (revocation, status query)."""
    headers = signed_headers(secret, method, url, b"", now)
    return await api.request(method, url, data=b"", headers=headers)


async def count(svc: Services, model: type[Any]) -> int:
    async with svc.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def load_case(svc: Services, case_id: str) -> Case | None:
    async with svc.sessions() as session:
        return await session.get(Case, case_id)


async def audit_events(svc: Services, case_id: str) -> list[tuple[str, str | None, str | None]]:
    async with svc.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)
        )
        return [(row.event, row.from_status, row.to_status) for row in rows]


async def signals_received(svc: Services) -> int:
    async with svc.sessions() as session:
        query = select(func.count()).where(AuditEvent.event == "signal_received")
        return int(await session.scalar(query) or 0)


def assert_chained(events: list[tuple[str, str | None, str | None]], final: str) -> None:
    """The trail opens with the signal and each step starts where the previous one ended."""
    assert events[0] == ("signal_received", None, "received")
    for previous, step in itertools.pairwise(events):
        assert step[1] == previous[2], events
    assert events[-1][2] == final, events


async def set_status(svc: Services, case_id: str, status: CaseStatus) -> None:
    async with svc.sessions.begin() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        case.status = status.value


@asynccontextmanager
async def client_for(svc: Services) -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_web_app(svc), host="127.0.0.1")) as client:
        yield client


def reordered(value: Any) -> Any:
    """The same JSON document with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    return value


# --- new, duplicate, conflict -------------------------------------------------------------


async def test_signal_new_returns_202_and_opens_case_with_audit(
    api: Client, services: Services
) -> None:
    payload = signal_payload()

    response = await post_signal(api, payload, services.clock.timestamp())

    assert response.status == 202, await response.text()
    answer = await response.json()
    assert set(answer) == {"case_id", "status", "duplicate"}
    assert answer["duplicate"] is False
    assert answer["status"] in OPENING_STATUSES
    case = await load_case(services, answer["case_id"])
    assert case is not None
    assert (case.signal_id, case.status, case.grade) == (payload["signal_id"], answer["status"], 4)
    assert case.created_at == services.clock.now()
    assert_chained(await audit_events(services, case.id), final=answer["status"])


async def test_signal_identical_resend_returns_200_same_case_duplicate(
    api: Client, services: Services
) -> None:
    payload = signal_payload()
    now = services.clock.timestamp()
    first = await (await post_signal(api, payload, now)).json()

    again = await post_signal(api, payload, now)

    assert again.status == 200
    assert await again.json() == {
        "case_id": first["case_id"],
        "status": first["status"],
        "duplicate": True,
    }
    assert await count(services, Case) == 1
    assert await signals_received(services) == 1


async def test_signal_resend_other_key_order_and_phone_spelling_is_duplicate(
    api: Client, services: Services
) -> None:
    payload = signal_payload(guardian={"phone": "+77015550001"})
    now = services.clock.timestamp()
    first = await (await post_signal(api, payload, now)).json()
    respelled = reordered(payload)
    respelled["guardian"]["phone"] = "8 701 555 00 01"
    assert json.dumps(respelled) != json.dumps(payload)

    again = await post_signal(api, respelled, now)

    assert again.status == 200, await again.text()
    assert await again.json() == {
        "case_id": first["case_id"],
        "status": first["status"],
        "duplicate": True,
    }
    assert await count(services, Case) == 1


async def test_signal_resend_with_issued_at_in_utc_is_duplicate(
    api: Client, services: Services
) -> None:
    payload = signal_payload(issued_at="2026-11-24T10:15:00+05:00")
    now = services.clock.timestamp()
    first = await (await post_signal(api, payload, now)).json()

    again = await post_signal(api, {**payload, "issued_at": "2026-11-24T05:15:00Z"}, now)

    assert again.status == 200, await again.text()
    assert (await again.json())["case_id"] == first["case_id"]
    assert await count(services, Case) == 1


async def test_signal_same_id_other_content_returns_409(api: Client, services: Services) -> None:
    payload = signal_payload()
    now = services.clock.timestamp()
    first = await post_signal(api, payload, now)
    assert first.status == 202
    changed = {**payload, "conclusion": {**payload["conclusion"], "summary": "другой текст"}}

    response = await post_signal(api, changed, now)

    assert response.status == 409
    answer = await response.json()
    assert answer["error"] == "signal.conflict"
    assert "signal_id" in answer["message"]
    assert await count(services, Case) == 1


async def test_signal_twenty_concurrent_posts_open_exactly_one_case(
    api: Client, services: Services
) -> None:
    payload = signal_payload()
    now = services.clock.timestamp()

    responses = await asyncio.gather(*(post_signal(api, payload, now) for _ in range(20)))

    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 19 + [202], [await r.text() for r in responses]
    answers = [await r.json() for r in responses]
    assert len({a["case_id"] for a in answers}) == 1
    assert sum(a["duplicate"] is False for a in answers) == 1
    assert await count(services, Case) == 1
    assert await count(services, Guardian) == 1
    assert await signals_received(services) == 1


# --- authentication ----------------------------------------------------------------------


@sqlite_only
async def test_signal_unsigned_returns_401_and_stores_nothing(
    api: Client, services: Services
) -> None:
    body = json.dumps(signal_payload()).encode()

    response = await api.post(SIGNALS, data=body, headers={"Content-Type": "application/json"})

    assert response.status == 401
    answer = await response.json()
    assert answer["error"] == "unauthorized"
    assert SIGNATURE_HEADER in answer["message"]
    assert await count(services, Case) == 0


@sqlite_only
async def test_signal_signed_with_unknown_secret_returns_401(
    api: Client, services: Services
) -> None:
    response = await post_signal(
        api, signal_payload(), services.clock.timestamp(), secret=b"not-our-secret"
    )

    assert response.status == 401
    assert await response.json() == {
        "error": "unauthorized",
        "message": "signature does not match",
    }
    assert await count(services, Case) == 0


@sqlite_only
async def test_signal_body_changed_after_signing_returns_401(
    api: Client, services: Services
) -> None:
    body, headers = signed(signal_payload(), SIGNAL_SECRET, services.clock.timestamp())
    tampered = body.replace(b'"grade": 4', b'"grade": 5')
    assert tampered != body

    response = await api.post(SIGNALS, data=tampered, headers=headers)

    assert response.status == 401
    assert (await response.json())["message"] == "signature does not match"


@pytest.mark.parametrize("secret", [b"old", b"new"], ids=["first", "second"])
async def test_signal_any_secret_during_rotation_is_accepted(
    database: Database, services: Services, secret: bytes
) -> None:
    rotating = replace(services, settings=make_settings(database.url, SIGNAL_SECRETS="old, new"))
    async with client_for(rotating) as client:
        accepted = await post_signal(client, signal_payload(), rotating.clock.timestamp(), secret)
        answer = await accepted.json()
        retired = await post_signal(client, signal_payload(), rotating.clock.timestamp())

    assert accepted.status == 202, answer
    assert answer["duplicate"] is False
    assert answer["status"] in OPENING_STATUSES
    assert retired.status == 401
    assert await count(services, Case) == 1


@sqlite_only
@pytest.mark.parametrize(
    ("skew", "expected"),
    [(-301, 401), (301, 401), (-300, 202), (300, 202), (-86_400, 401)],
    ids=["past-301s", "future-301s", "past-300s", "future-300s", "past-day"],
)
async def test_signal_timestamp_outside_window_returns_401(
    api: Client, services: Services, skew: int, expected: int
) -> None:
    response = await post_signal(api, signal_payload(), services.clock.timestamp() + skew)

    assert response.status == expected, await response.text()
    if expected == 401:
        answer = await response.json()
        assert answer["error"] == "unauthorized"
        assert TIMESTAMP_HEADER in answer["message"] and "300 s" in answer["message"]


# --- body limits and media type -----------------------------------------------------------


def padded_body(size: int) -> bytes:
    """A valid signal serialised to exactly `size` bytes (JSON whitespace as padding)."""
    body = json.dumps(signal_payload()).encode()
    assert len(body) < size
    return body[:-1] + b" " * (size - len(body)) + b"}"


@sqlite_only
async def test_signal_body_of_exactly_64_kib_is_accepted(api: Client, services: Services) -> None:
    body = padded_body(MAX_BODY_BYTES)
    headers = {
        "Content-Type": "application/json",
        **signed_headers(SIGNAL_SECRET, "POST", SIGNALS, body, services.clock.timestamp()),
    }

    response = await api.post(SIGNALS, data=body, headers=headers)

    assert len(body) == 64 * 1024
    assert response.status == 202, await response.text()


@sqlite_only
async def test_signal_body_over_64_kib_with_length_returns_413(
    api: Client, services: Services
) -> None:
    body = padded_body(MAX_BODY_BYTES + 1)
    headers = {
        "Content-Type": "application/json",
        **signed_headers(SIGNAL_SECRET, "POST", SIGNALS, body, services.clock.timestamp()),
    }

    response = await api.post(SIGNALS, data=body, headers=headers)

    assert response.status == 413
    answer = await response.json()
    assert answer["error"] == "body_too_large"
    assert str(MAX_BODY_BYTES) in answer["message"]
    assert await count(services, Case) == 0


@sqlite_only
async def test_signal_body_over_64_kib_chunked_returns_413(api: Client, services: Services) -> None:
    body = padded_body(4 * MAX_BODY_BYTES)
    headers = {
        "Content-Type": "application/json",
        **signed_headers(SIGNAL_SECRET, "POST", SIGNALS, body, services.clock.timestamp()),
    }

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await api.post(SIGNALS, data=chunks(), headers=headers)

    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    assert response.status == 413
    assert (await response.json())["error"] == "body_too_large"
    assert await count(services, Case) == 0


@sqlite_only
async def test_signal_text_plain_returns_415(api: Client, services: Services) -> None:
    body, headers = signed(signal_payload(), SIGNAL_SECRET, services.clock.timestamp())

    response = await api.post(SIGNALS, data=body, headers={**headers, "Content-Type": "text/plain"})

    assert response.status == 415
    assert (await response.json())["error"] == "unsupported_media_type"


@sqlite_only
@pytest.mark.parametrize(
    "body",
    [b'{"signal_id": "KZ-1",', b"\xff\xfe{}", b"[" * 50_000],
    ids=["truncated", "not-utf8", "nested-too-deep"],
)
async def test_signal_malformed_json_returns_400(
    api: Client, services: Services, body: bytes
) -> None:
    _, headers = signed(body, SIGNAL_SECRET, services.clock.timestamp())

    response = await api.post(SIGNALS, data=body, headers=headers)

    assert response.status == 400, await response.text()
    assert (await response.json())["error"] == "invalid_json"


@sqlite_only
@pytest.mark.parametrize("document", [[], [{"signal_id": "x"}], None, "text", 42])
async def test_signal_json_that_is_not_an_object_returns_422(
    api: Client, services: Services, document: Any
) -> None:
    response = await post_signal(api, document, services.clock.timestamp())

    assert response.status == 422
    answer = await response.json()
    assert answer["error"] == "validation_failed"
    assert [e["field"] for e in answer["errors"]] == ["body"]


# --- field validation ---------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def put(section: str, key: str, value: Any) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        payload[section][key] = value

    return mutate


def put_top(key: str, value: Any) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        payload[key] = value

    return mutate


def drop(section: str, key: str) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        del payload[section][key]

    return mutate


def drop_top(key: str) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        del payload[key]

    return mutate


def corrupt_check_digit(section: str) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        number = payload[section]["iin" if section != "school" else "bin"]
        wrong = str((int(number[-1]) + 1) % 10)
        payload[section]["iin" if section != "school" else "bin"] = number[:-1] + wrong

    return mutate


INVALID_FIELDS = [
    pytest.param(corrupt_check_digit("child"), "child.iin", "check digit", id="child-iin-check"),
    pytest.param(put("child", "iin", "15031460123"), "child.iin", "12 digits", id="child-iin-11"),
    pytest.param(put("child", "iin", "15031460123a"), "child.iin", "12 digits", id="child-iin-abc"),
    pytest.param(put("child", "iin", 150314601232), "child.iin", "string", id="child-iin-number"),
    pytest.param(
        corrupt_check_digit("guardian"), "guardian.iin", "check digit", id="guardian-iin-check"
    ),
    pytest.param(put("guardian", "iin", "1234"), "guardian.iin", "12 digits", id="guardian-iin-4"),
    pytest.param(
        put("guardian", "phone", "+74951234567"), "guardian.phone", "Kazakh", id="phone-moscow"
    ),
    pytest.param(put("guardian", "phone", "call me"), "guardian.phone", "Kazakh", id="phone-junk"),
    pytest.param(
        put("guardian", "phone", "+7701123456"), "guardian.phone", "Kazakh", id="phone-short"
    ),
    pytest.param(
        put("conclusion", "date", "24.11.2026"), "conclusion.date", "date", id="date-format"
    ),
    pytest.param(
        put("conclusion", "valid_until", "2026-11-23"),
        "conclusion.valid_until",
        "before the conclusion date",
        id="valid-until-before-date",
    ),
    pytest.param(
        put("child", "birth_date", "2015-03-15"),
        "child.birth_date",
        "IIN",
        id="birth-date-not-iin",
    ),
    pytest.param(
        put("conclusion", "date", "2026-11-25"),
        "conclusion",
        "after issued_at",
        id="conclusion-after-issued",
    ),
    pytest.param(
        put_top("issued_at", "2026-11-23T18:59:00Z"),
        "conclusion",
        "after issued_at",
        id="conclusion-after-issued-utc",
    ),
    pytest.param(
        put_top("issued_at", "2026-11-24T10:15:00"), "issued_at", "timezone", id="issued-naive"
    ),
    pytest.param(
        put("conclusion", "recommendation", "hospital_schooling"),
        "conclusion.recommendation",
        "home_schooling",
        id="recommendation",
    ),
    pytest.param(put("school", "grade", 12), "school.grade", "11", id="grade-12"),
    pytest.param(put("school", "grade", 0), "school.grade", "1", id="grade-0"),
    pytest.param(corrupt_check_digit("school"), "school.bin", "check digit", id="bin-check"),
    pytest.param(put_top("diagnosis", "F84"), "diagnosis", "Extra", id="extra-top"),
    pytest.param(put("child", "address", "Алматы"), "child.address", "Extra", id="extra-nested"),
    pytest.param(drop("child", "full_name"), "child.full_name", "required", id="missing-name"),
    pytest.param(drop_top("guardian"), "guardian", "required", id="missing-guardian"),
    pytest.param(put_top("signal_id", "KZ VKK/1"), "signal_id", "pattern", id="signal-id-chars"),
]


@sqlite_only
@pytest.mark.parametrize(("mutate", "field", "message_part"), INVALID_FIELDS)
async def test_signal_invalid_field_returns_422_with_field_path(
    api: Client, services: Services, mutate: Mutation, field: str, message_part: str
) -> None:
    payload = signal_payload()
    mutate(payload)

    response = await post_signal(api, payload, services.clock.timestamp())

    assert response.status == 422, await response.text()
    answer = await response.json()
    assert answer["error"] == "validation_failed"
    assert [e["field"] for e in answer["errors"]] == [field]
    assert message_part in answer["errors"][0]["message"]
    assert await count(services, Case) == 0


@sqlite_only
@pytest.mark.parametrize(
    "issued_at",
    ["2026-11-24T01:00:00+05:00", "2026-11-23T20:00:00Z", "2026-11-23T10:00:00-10:00"],
    ids=["almaty", "utc", "hawaii"],
)
async def test_signal_issued_at_same_instant_any_offset_is_accepted(
    api: Client, services: Services, issued_at: str
) -> None:
    """A conclusion of 24 Nov issued at 01:00 in Almaty: every spelling of that instant."""
    payload = signal_payload(issued_at=issued_at, conclusion={"date": "2026-11-24"})

    response = await post_signal(api, payload, services.clock.timestamp())

    assert response.status == 202, await response.text()


async def test_signal_without_school_and_optional_fields_is_accepted(
    api: Client, services: Services
) -> None:
    payload = signal_payload()
    del payload["school"], payload["guardian"]["iin"], payload["conclusion"]["valid_until"]

    response = await post_signal(api, payload, services.clock.timestamp())

    assert response.status == 202, await response.text()
    case = await load_case(services, (await response.json())["case_id"])
    assert case is not None
    assert (case.school_bin, case.grade) == (None, None)


@sqlite_only
@pytest.mark.parametrize(
    "spelling", ["8 (701) 123-45-67", "+7 701 123 45 67", "87011234567", "7011234567"]
)
async def test_signal_guardian_phone_is_stored_as_e164(
    api: Client, services: Services, spelling: str
) -> None:
    payload = signal_payload(guardian={"phone": spelling})

    response = await post_signal(api, payload, services.clock.timestamp())

    assert response.status == 202, await response.text()
    async with services.sessions() as session:
        guardian = await get_guardian_by_phone(session, services.cipher, "+77011234567")
    assert guardian is not None and guardian.pd_enc is not None
    assert services.cipher.decrypt_json(guardian.pd_enc)["phone"] == "+77011234567"


# --- revocation ---------------------------------------------------------------------------


async def test_revocation_of_open_case_cancels_it(api: Client, services: Services) -> None:
    payload = signal_payload()
    now = services.clock.timestamp()
    created = await (await post_signal(api, payload, now)).json()

    response = await signed_empty(api, "POST", revocation_url(payload["signal_id"]), now)

    assert response.status == 200, await response.text()
    assert await response.json() == {
        "case_id": created["case_id"],
        "status": "cancelled",
        "duplicate": False,
    }
    case = await load_case(services, created["case_id"])
    assert case is not None
    assert (case.status, case.closed_at) == ("cancelled", services.clock.now())
    events = await audit_events(services, case.id)
    assert events[-1] == ("revoked", created["status"], "cancelled")
    assert_chained(events, final="cancelled")


async def test_revocation_twice_returns_200_duplicate(api: Client, services: Services) -> None:
    payload = signal_payload()
    now = services.clock.timestamp()
    created = await (await post_signal(api, payload, now)).json()
    await signed_empty(api, "POST", revocation_url(payload["signal_id"]), now)
    trail = await audit_events(services, created["case_id"])

    again = await signed_empty(api, "POST", revocation_url(payload["signal_id"]), now)

    assert again.status == 200
    assert await again.json() == {
        "case_id": created["case_id"],
        "status": "cancelled",
        "duplicate": True,
    }
    assert await audit_events(services, created["case_id"]) == trail


async def test_revocation_of_unknown_signal_returns_404(api: Client, services: Services) -> None:
    response = await signed_empty(
        api, "POST", revocation_url("KZ-VKK-0000-000000"), services.clock.timestamp()
    )

    assert response.status == 404
    assert (await response.json())["error"] == "signal.unknown"


async def test_revocation_unsigned_returns_401_and_keeps_case(
    api: Client, services: Services
) -> None:
    payload = signal_payload()
    created = await (await post_signal(api, payload, services.clock.timestamp())).json()

    response = await api.post(revocation_url(payload["signal_id"]))

    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"
    case = await load_case(services, created["case_id"])
    assert case is not None and case.status == created["status"]


@pytest.mark.parametrize("decided", [CaseStatus.ACCEPTED, CaseStatus.REFUSED])
async def test_revocation_after_decision_returns_409(
    api: Client, services: Services, decided: CaseStatus
) -> None:
    payload = signal_payload()
    now = services.clock.timestamp()
    created = await (await post_signal(api, payload, now)).json()
    await set_status(services, created["case_id"], decided)

    response = await signed_empty(api, "POST", revocation_url(payload["signal_id"]), now)

    assert response.status == 409
    answer = await response.json()
    assert answer["error"] == "signal.already_decided"
    assert decided.value in answer["message"]
    case = await load_case(services, created["case_id"])
    assert case is not None and case.status == decided.value


# --- status query -------------------------------------------------------------------------


async def test_case_status_returns_times_without_personal_data(
    api: Client, services: Services
) -> None:
    payload = signal_payload(guardian={"phone": "8 701 555 12 34"})
    now = services.clock.timestamp()
    created = await (await post_signal(api, payload, now)).json()

    response = await signed_empty(api, "GET", case_url(created["case_id"]), now)

    assert response.status == 200
    text = await response.text()
    answer = json.loads(text)
    assert (answer["case_id"], answer["status"]) == (created["case_id"], created["status"])
    assert datetime.fromisoformat(answer["created_at"]) == services.clock.now()
    assert datetime.fromisoformat(answer["updated_at"]) == services.clock.now()
    assert answer["closed_at"] is None and answer["decided_at"] is None
    personal = [
        payload["child"]["iin"],
        payload["guardian"]["iin"],
        payload["child"]["full_name"],
        payload["guardian"]["full_name"],
        payload["conclusion"]["summary"],
        "7015551234",
    ]
    for value in personal:
        assert value not in text


async def test_case_status_of_unknown_case_returns_404(api: Client, services: Services) -> None:
    response = await signed_empty(
        api, "GET", case_url("00000000-0000-0000-0000-000000000000"), services.clock.timestamp()
    )

    assert response.status == 404
    assert (await response.json())["error"] == "case.unknown"


@sqlite_only
async def test_case_status_unsigned_returns_401(api: Client, services: Services) -> None:
    created = await (await post_signal(api, signal_payload(), services.clock.timestamp())).json()

    response = await api.get(case_url(created["case_id"]))

    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"


@sqlite_only
async def test_case_status_signed_by_other_secret_returns_401(
    api: Client, services: Services
) -> None:
    created = await (await post_signal(api, signal_payload(), services.clock.timestamp())).json()

    response = await signed_empty(
        api, "GET", case_url(created["case_id"]), services.clock.timestamp(), secret=b"other"
    )

    assert response.status == 401


async def test_signal_stored_with_rotated_data_key_is_still_found(services: Services) -> None:
    """A guardian stored under the old key is reused after DATA_KEY rotation."""
    now = services.clock.timestamp()
    phone = "+77017654321"
    async with client_for(services) as client:
        first = await post_signal(client, signal_payload(guardian={"phone": phone}), now)
    rotated = replace(services, cipher=DataCipher([Fernet.generate_key().decode(), DATA_KEY]))
    async with client_for(rotated) as client:
        second = await post_signal(
            client, signal_payload(guardian={"phone": phone}, child={"iin": make_iin()}), now
        )

    assert (first.status, second.status) == (202, 202)
    assert await count(services, Guardian) == 1
    assert await count(services, Case) == 2
