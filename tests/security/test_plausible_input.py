"""Strict, plausible input (DESIGN 4.3 and 4.4): what a careless or hostile peer sends.

Each row is a body the service used to take (a case opened from nonsense, a decision
recorded from a string) or to answer with a 500 (numbers Python cannot convert,
dates past the end of the calendar). Now: 400 when it is not one reading of JSON,
422 naming the field when it is implausible, and nothing stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.usecases.schools import issue_school_api_key
from storage.models import Case
from tests.conftest import SIGNAL_SECRET, Database
from tests.factories import SIGNAL_PATH, make_iin, signal_payload, signed
from tests.security.flow import case_status
from tests.storage.case_setup import add_school, mark_forwarded, open_case

Client = TestClient[web.Request, web.Application]
pytestmark = pytest.mark.usefixtures("service_stays_healthy")
RAW = "__raw__"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


def with_raw(payload: dict[str, Any], literal: str) -> bytes:
    """`payload` as JSON with the value `RAW` replaced by the literal text `literal`."""
    return json.dumps(payload, ensure_ascii=False).replace(f'"{RAW}"', literal).encode()


def child_born(born: date) -> dict[str, Any]:
    return {"iin": make_iin(born), "birth_date": born.isoformat()}


def payload_with(**overrides: Any) -> Callable[[], bytes]:
    return lambda: json.dumps(signal_payload(**overrides), ensure_ascii=False).encode()


def raw_in(section: str | None, field: str, literal: str) -> Callable[[], bytes]:
    def build() -> bytes:
        payload = signal_payload()
        (payload[section] if section else payload)[field] = RAW
        return with_raw(payload, literal)

    return build


# (attack, body, status, field or None for a 400)
SIGNAL_ATTACKS: list[Any] = [
    ("grade-5000-digits", raw_in("school", "grade", "1" + "0" * 5000), 400, None),
    ("grade-21-digits", raw_in("school", "grade", "1" + "0" * 20), 400, None),
    ("grade-true", payload_with(school={"grade": True}), 422, "school.grade"),
    ("grade-string", payload_with(school={"grade": "4"}), 422, "school.grade"),
    ("grade-fraction", raw_in("school", "grade", "4.5"), 422, "school.grade"),
    ("grade-0", payload_with(school={"grade": 0}), 422, "school.grade"),
    ("grade-nan", raw_in("school", "grade", "NaN"), 400, None),
    ("grade-1e999", raw_in("school", "grade", "1e999"), 400, None),
    (
        "duplicate-signal-id",
        lambda: json.dumps(signal_payload()).replace("{", '{"signal_id": "KZ-X", ', 1).encode(),
        400,
        None,
    ),
    (
        "issued-at-end-of-calendar",
        payload_with(issued_at="9999-12-31T23:59:59-12:00"),
        422,
        "issued_at",
    ),
    ("issued-at-2031", payload_with(issued_at="2031-01-01T10:00:00+05:00"), 422, "issued_at"),
    (
        "issued-at-11-minutes-ahead",
        payload_with(issued_at="2026-11-25T05:11:00Z"),
        422,
        "issued_at",
    ),
    ("issued-at-1989", payload_with(issued_at="1989-12-31T10:00:00+05:00"), 422, "issued_at"),
    ("conclusion-9999", payload_with(conclusion={"date": "9999-12-31"}), 422, "conclusion.date"),
    ("conclusion-1985", payload_with(conclusion={"date": "1985-01-01"}), 422, "conclusion.date"),
    (
        "conclusion-expired",
        payload_with(conclusion={"date": "2026-05-04", "valid_until": "2026-11-01"}),
        422,
        "conclusion.valid_until",
    ),
    (
        "valid-until-before-date",
        payload_with(conclusion={"valid_until": "2026-11-23"}),
        422,
        "conclusion.valid_until",
    ),
    ("child-born-1899", payload_with(child=child_born(date(1899, 5, 1))), 422, "child.birth_date"),
    ("child-aged-3", payload_with(child=child_born(date(2023, 5, 1))), 422, "child.birth_date"),
    ("child-aged-25", payload_with(child=child_born(date(2001, 5, 1))), 422, "child.birth_date"),
    ("child-born-2031", payload_with(child=child_born(date(2031, 1, 1))), 422, "child.birth_date"),
    (
        "child-name-zero-width",
        payload_with(child={"full_name": ZERO_WIDTH}),
        422,
        "child.full_name",
    ),
    (
        "guardian-name-zero-width",
        payload_with(guardian={"full_name": "\u200b" * 10}),
        422,
        "guardian.full_name",
    ),
    ("child-name-digits", payload_with(child={"full_name": "12345"}), 422, "child.full_name"),
]


async def count_cases(svc: Services) -> int:
    async with svc.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Case)) or 0)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [pytest.param(body, status, field, id=name) for name, body, status, field in SIGNAL_ATTACKS],
)
async def test_signal_implausible_or_ambiguous_is_refused_and_stores_nothing(
    database: Database,
    services: Services,
    api: Client,
    body: Callable[[], bytes],
    status: int,
    field: str | None,
) -> None:
    raw, headers = signed(body(), SIGNAL_SECRET, services.clock.timestamp())

    response = await api.post(SIGNAL_PATH, data=raw, headers=headers)

    answer = await response.json()
    assert response.status == status, answer
    if field is None:
        assert answer["error"] == "invalid_json"
    else:
        assert [e["field"] for e in answer["errors"]] == [field]
    assert await count_cases(services) == 0


async def test_signal_plausible_edges_are_accepted(
    database: Database, services: Services, api: Client
) -> None:
    """What the rules must not refuse: a sender clock 9 minutes ahead, a conclusion
    valid until today, a child of 5 and of 20, a name with a zero-width space inside."""
    today = services.clock.now().date()
    bodies = [
        signal_payload(issued_at="2026-11-25T05:09:00Z", school={"grade": 1}),
        signal_payload(conclusion={"date": "2026-05-25", "valid_until": today.isoformat()}),
        signal_payload(child=child_born(today - timedelta(days=5 * 366)), school={"grade": 11}),
        signal_payload(child=child_born(date(2006, 11, 26))),
        signal_payload(child={"full_name": "Сейт\u200bқали Әлихан"}),
    ]
    statuses = []
    for payload in bodies:
        raw, headers = signed(payload, SIGNAL_SECRET, services.clock.timestamp())
        response = await api.post(SIGNAL_PATH, data=raw, headers=headers)
        statuses.append((response.status, await response.text()))

    assert [status for status, _ in statuses] == [202] * len(bodies), statuses
    assert await count_cases(services) == len(bodies)


# --- the school decision API --------------------------------------------------------------

DECISION_ATTACKS: list[Any] = [
    (
        "ground-string",
        b'{"decision": "refused", "ground": "1", "reason": "Incomplete package"}',
        422,
    ),
    (
        "ground-true",
        b'{"decision": "refused", "ground": true, "reason": "Incomplete package"}',
        422,
    ),
    (
        "ground-fraction",
        b'{"decision": "refused", "ground": 1.5, "reason": "Incomplete package"}',
        422,
    ),
    (
        "ground-5000-digits",
        b'{"decision": "refused", "ground": 1' + b"0" * 5000 + b', "reason": "Incomplete"}',
        400,
    ),
    ("accepted-with-ground", b'{"decision": "accepted", "ground": 2}', 422),
    ("accepted-with-reason", b'{"decision": "accepted", "reason": "Documents are in order"}', 422),
    ("duplicate-decision", b'{"decision": "refused", "decision": "accepted"}', 400),
]


@pytest.mark.parametrize(
    ("body", "status"),
    [pytest.param(body, status, id=name) for name, body, status in DECISION_ATTACKS],
)
async def test_decision_api_loose_types_and_mixed_decisions_change_nothing(
    database: Database, services: Services, api: Client, body: bytes, status: int
) -> None:
    school = await add_school(services)
    key = (await issue_school_api_key(services, school.bin)).key
    case_id = await open_case(services, school=school)
    await mark_forwarded(services, case_id, services.clock.now() + timedelta(days=2))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    response = await api.post(f"/api/v1/cases/{case_id}/decision", data=body, headers=headers)

    assert response.status == status, await response.text()
    assert await case_status(services, case_id) is CaseStatus.FORWARDED
    accepted = await api.post(
        f"/api/v1/cases/{case_id}/decision", json={"decision": "accepted"}, headers=headers
    )
    assert accepted.status == 200
