"""Signature scheme 2 (DESIGN 4.3): a captured request cannot be moved to another endpoint.

Under the first scheme the signature covered the body alone, so the headers of any
signed request with the same body (a signal, or an empty-body status poll) were a
valid signature for `POST .../{other}/revocation`: anyone on the wire could cancel
any case within 300 s, and its guardian was told. Now method and path are signed.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.signing import signed_headers
from storage.models import OutboxMessage
from tests.conftest import SIGNAL_SECRET, Database
from tests.factories import SIGNAL_PATH, signed
from tests.security.flow import case_status, link_guardian, make_person, open_signal

Client = TestClient[web.Request, web.Application]
pytestmark = pytest.mark.usefixtures("service_stays_healthy")


def revocation(signal_id: str) -> str:
    return f"{SIGNAL_PATH}/{signal_id}/revocation"


async def outbox_rows(svc: Services) -> int:
    async with svc.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def victim(services: Services, signal_id: str) -> str:
    """An open case whose guardian is linked: a cancellation would be told to them."""
    person = make_person(signal_id[-2:])
    case_id = await open_signal(services, person, None, signal_id=signal_id)
    await link_guardian(services, person, 9_000 + len(signal_id))
    return case_id


async def test_captured_signal_replayed_onto_another_cases_revocation_is_401(
    database: Database, services: Services, api: Client
) -> None:
    case_id = await victim(services, "KZ-VKK-VICTIM-01")
    body, headers = signed(
        make_person("AT").signal(None), SIGNAL_SECRET, services.clock.timestamp()
    )
    assert (await api.post(SIGNAL_PATH, data=body, headers=headers)).status == 202
    told_before = await outbox_rows(services)

    replay = await api.post(revocation("KZ-VKK-VICTIM-01"), data=body, headers=headers)

    assert replay.status == 401
    assert (await replay.json())["message"] == "signature does not match"
    assert await case_status(services, case_id) is not CaseStatus.CANCELLED
    assert await outbox_rows(services) == told_before


@pytest.mark.parametrize(
    ("method", "signed_path", "sent_path"),
    [
        pytest.param("GET", "/api/v1/cases/{case}", "{revocation}", id="status-poll-as-revocation"),
        pytest.param("POST", revocation("KZ-VKK-OTHER-000"), "{revocation}", id="other-revocation"),
        pytest.param("POST", "{revocation}?dry=1", "{revocation}", id="query-string-dropped"),
        pytest.param("POST", "{revocation}", "{revocation}?force=1", id="query-string-added"),
    ],
)
async def test_captured_empty_body_request_replayed_elsewhere_is_401(
    database: Database,
    services: Services,
    api: Client,
    method: str,
    signed_path: str,
    sent_path: str,
) -> None:
    case_id = await victim(services, "KZ-VKK-VICTIM-02")
    paths: dict[str, Any] = {"case": case_id, "revocation": revocation("KZ-VKK-VICTIM-02")}
    captured = signed_headers(
        SIGNAL_SECRET, method, signed_path.format(**paths), b"", services.clock.timestamp()
    )

    replay = await api.post(sent_path.format(**paths), data=b"", headers=captured)

    assert replay.status == 401
    assert await case_status(services, case_id) is not CaseStatus.CANCELLED


async def test_revocation_signed_for_its_own_path_and_query_cancels(
    database: Database, services: Services, api: Client
) -> None:
    """The counterpart: the very request the health system signed is accepted."""
    case_id = await victim(services, "KZ-VKK-VICTIM-03")
    path = revocation("KZ-VKK-VICTIM-03") + "?reason=withdrawn"
    headers = signed_headers(SIGNAL_SECRET, "POST", path, b"", services.clock.timestamp())

    answer = await api.post(path, data=b"", headers=headers)

    assert answer.status == 200, await answer.text()
    assert await case_status(services, case_id) is CaseStatus.CANCELLED


async def test_case_status_signed_for_another_case_is_401(
    database: Database, services: Services, api: Client
) -> None:
    mine = await victim(services, "KZ-VKK-VICTIM-04")
    other = await victim(services, "KZ-VKK-VICTIM-05")
    headers = signed_headers(
        SIGNAL_SECRET, "GET", f"/api/v1/cases/{mine}", b"", services.clock.timestamp()
    )

    assert (await api.get(f"/api/v1/cases/{mine}", headers=headers)).status == 200
    assert (await api.get(f"/api/v1/cases/{other}", headers=headers)).status == 401
