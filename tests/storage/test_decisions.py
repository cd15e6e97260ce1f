"""School decisions rendered concurrently: every receipt gets its own number, once."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.domain.status import CaseStatus
from bot.errors import Conflict
from bot.runtime import Services
from bot.usecases import decisions
from bot.usecases.decisions import SchoolActor
from storage.models import Document, School
from storage.outbox import Kind
from tests.storage.case_setup import (
    add_school,
    get_case_row,
    mark_forwarded,
    next_chat_id,
    open_case,
    outbox,
    update_case,
)


async def forwarded_case(svc: Services, school: School) -> str:
    case_id = await open_case(svc, school=school, chat_id=next_chat_id())
    await mark_forwarded(svc, case_id, svc.clock.now())
    return case_id


async def receipts(svc: Services) -> dict[str, int]:
    async with svc.sessions() as session:
        rows = (await session.scalars(select(Document).where(Document.kind == "receipt"))).all()
    counted: dict[str, int] = {}
    for row in rows:
        counted[row.case_id] = counted.get(row.case_id, 0) + 1
    return counted


async def test_concurrent_acceptances_of_one_school_number_each_receipt_once(
    services: Services,
) -> None:
    school = await add_school(services)
    actor = SchoolActor(school_id=school.id, label="api:test")
    cases = [await forwarded_case(services, school) for _ in range(6)]

    results = await asyncio.gather(*(decisions.accept(services.deciding, c, actor) for c in cases))

    year = services.clock.now().year
    assert sorted(r.registration_number or "" for r in results) == [
        f"{year}/{n:05d}" for n in range(1, 7)
    ]
    for result in results:
        stored = await get_case_row(services, result.case_id)
        assert (stored.status, stored.registration_number) == (
            CaseStatus.ACCEPTED.value,
            result.registration_number,
        )
    assert await receipts(services) == dict.fromkeys(cases, 1)
    assert sorted(r.case_id or "" for r in await outbox(services, kind=Kind.RESULT)) == sorted(
        cases
    )


async def test_two_decisions_on_one_case_at_once_accept_it_once(services: Services) -> None:
    school = await add_school(services)
    actor = SchoolActor(school_id=school.id, label="api:test")
    case_id = await forwarded_case(services, school)

    outcomes = await asyncio.gather(
        decisions.accept(services.deciding, case_id, actor),
        decisions.accept(services.deciding, case_id, actor),
        return_exceptions=True,
    )

    accepted = [o for o in outcomes if isinstance(o, decisions.DecisionResult)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert (len(accepted), len(refused)) == (1, 1), outcomes
    assert await receipts(services) == {case_id: 1}
    assert len(await outbox(services, kind=Kind.RESULT)) == 1


async def test_preliminary_refusal_after_an_unfinished_acceptance_frees_its_number(
    services: Services,
) -> None:
    school = await add_school(services)
    actor = SchoolActor(school_id=school.id, label="api:test")
    case_id = await forwarded_case(services, school)
    await update_case(services, case_id, registration_number="2026/00001")

    result = await decisions.refuse(
        services.deciding, case_id, actor, 2, "Сынып нөмірі сәйкес емес"
    )

    stored = await get_case_row(services, case_id)
    assert result.status is CaseStatus.HEARING
    assert (stored.status, stored.registration_number) == (CaseStatus.HEARING.value, None)
