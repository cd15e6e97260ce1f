"""`stats` on SQLite and PostgreSQL: counts, consent rate, medians and their rendering."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.usecases.stats import Median, collect_stats, format_stats, humanize_duration
from storage.models import Case, ConsentRecord, Guardian, OutboxMessage, School, StaffChat
from tests.factories import make_bin

_n = itertools.count(1)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def guardian(now: datetime, *, unreachable: bool = False) -> Guardian:
    return Guardian(
        phone_hash=uuid.uuid4().hex,
        unreachable_at=now if unreachable else None,
        created_at=now,
        updated_at=now,
    )


def school(now: datetime, *, webhook_url: str | None = None) -> School:
    return School(
        bin=make_bin(), name_ru="Школа", webhook_url=webhook_url, created_at=now, updated_at=now
    )


def add_case(
    session: AsyncSession,
    who: Guardian,
    status: CaseStatus,
    created_at: datetime,
    *,
    where: School | None = None,
    consents: tuple[str, ...] = (),
    **times: datetime,
) -> Case:
    case = Case(
        id=str(uuid.uuid4()),
        signal_id=f"KZ-VKK-STATS-{next(_n):06d}",
        signal_digest="0" * 64,
        guardian_id=who.id,
        school_id=where.id if where else None,
        status=status.value,
        issued_at=created_at,
        created_at=created_at,
        updated_at=created_at,
        **times,
    )
    session.add(case)
    for choice in consents:
        session.add(
            ConsentRecord(
                case_id=case.id,
                choice=choice,
                text_version="v1",
                text_sha256="0" * 64,
                telegram_user_id=1,
                created_at=created_at,
            )
        )
    return case


def outbox(now: datetime, status: str) -> OutboxMessage:
    return OutboxMessage(
        dedupe_key=uuid.uuid4().hex,
        channel="telegram",
        kind="notice",
        recipient="1",
        status=status,
        next_attempt_at=now,
        created_at=now,
    )


async def seed(svc: Services) -> None:
    """Seven cases with known timestamps; comments give each one's contribution."""
    t = svc.clock.now()
    async with svc.sessions.begin() as session:
        ok, away = guardian(t), guardian(t, unreachable=True)
        with_chat, with_hook, bare = school(t), school(t, webhook_url="https://s.kz/h"), school(t)
        session.add_all([ok, away, with_chat, with_hook, bare])
        await session.flush()
        session.add(StaffChat(school_id=with_chat.id, chat_id=-100, created_at=t))
        session.add_all([outbox(t, "dead"), outbox(t, "dead"), outbox(t, "sent")])
        session.add(outbox(t, "pending"))
        # 1: open, no school at all
        add_case(session, ok, CaseStatus.RECEIVED, t)
        # 2: open, school without inbox, guardian unreachable; notice 10 min
        add_case(session, away, CaseStatus.NOTIFIED, t, where=bare, notified_at=t + 10 * MIN)
        # 3: notice 2 h 05 min, agreed
        add_case(
            session, ok, CaseStatus.CONSENTED, t, where=with_chat, consents=("agree",),
            notified_at=t + 2 * HOUR + 5 * MIN, consented_at=t + 3 * HOUR,
        )  # fmt: skip
        # 4: open (declined may re-consent), unreachable; notice 1 h, declined
        add_case(
            session, away, CaseStatus.DECLINED, t, where=with_hook, consents=("decline",),
            notified_at=t + HOUR,
        )  # fmt: skip
        # 5: overdue; notice 30 min, submitted 1 d later
        add_case(
            session, ok, CaseStatus.OVERDUE, t, where=with_chat, consents=("agree",),
            notified_at=t + 30 * MIN, submitted_at=t + 30 * MIN + DAY,
        )  # fmt: skip
        # 6: final; notice 4 h, submitted 3 d 4 h later, decided 2 d later; re-consented
        add_case(
            session, ok, CaseStatus.ACCEPTED, t, where=bare, consents=("decline", "agree"),
            notified_at=t + 4 * HOUR, submitted_at=t + 3 * DAY + 8 * HOUR,
            decided_at=t + 5 * DAY + 8 * HOUR,
        )  # fmt: skip
        # 7: final, unreachable, no school; notice 1 h 30, submitted 2 h, decided 1 d 6 h
        add_case(
            session, away, CaseStatus.REFUSED, t, consents=("agree",),
            notified_at=t + 90 * MIN, submitted_at=t + 210 * MIN,
            decided_at=t + 210 * MIN + DAY + 6 * HOUR,
        )  # fmt: skip


async def test_stats_counts_medians_and_rates(services: Services) -> None:
    await seed(services)

    stats = await collect_stats(services)

    assert stats.by_status == {
        **dict.fromkeys(CaseStatus, 0),
        CaseStatus.RECEIVED: 1,
        CaseStatus.NOTIFIED: 1,
        CaseStatus.CONSENTED: 1,
        CaseStatus.DECLINED: 1,
        CaseStatus.OVERDUE: 1,
        CaseStatus.ACCEPTED: 1,
        CaseStatus.REFUSED: 1,
    }
    assert stats.total == 7
    assert (stats.consented, stats.consent_answered, stats.consent_rate) == (4, 5, 0.8)
    # 10 min, 30 min, 1 h, 1 h 30, 2 h 05, 4 h -> (1 h + 1 h 30) / 2
    assert stats.signal_to_notice == Median(HOUR + 15 * MIN, 6)
    # 2 h, 1 d, 3 d 4 h -> 1 d
    assert stats.notice_to_submitted == Median(DAY, 3)
    # 1 d 6 h, 2 d -> 1 d 15 h
    assert stats.submitted_to_decision == Median(DAY + 15 * HOUR, 2)
    assert (stats.overdue, stats.dead_letters) == (1, 2)
    assert (stats.unreachable_open, stats.open_without_inbox) == (2, 2)
    assert stats.at == services.clock.now()


async def test_stats_format_is_an_aligned_table(services: Services) -> None:
    await seed(services)

    table = format_stats(await collect_stats(services))

    assert table == "\n".join(
        [
            "Statistics as of 2026-11-25 10:00 +05",
            "",
            "Cases by status",
            "  received                                     1",
            "  awaiting_link                                0",
            "  notified                                     1",
            "  consented                                    1",
            "  declined                                     1",
            "  submitted                                    0",
            "  forwarded                                    0",
            "  overdue                                      1",
            "  hearing                                      0",
            "  accepted                                     1",
            "  refused                                      1",
            "  expired                                      0",
            "  cancelled                                    0",
            "  total                                        7",
            "",
            "Consent rate                               80.0%   4 of 5 answered",
            "Overdue cases                                  1",
            "Dead-letter outbox messages                    2",
            "Open cases, guardian unreachable               2",
            "Open cases without a school inbox              2",
            "",
            "Median time                               median   cases",
            "  signal -> notice                    1 h 15 min       6",
            "  notice -> submitted                    1 d 0 h       3",
            "  submitted -> decision                 1 d 15 h       2",
        ]
    )


async def test_stats_empty_database_gives_zeros_and_dashes(services: Services) -> None:
    stats = await collect_stats(services)

    assert stats.by_status == dict.fromkeys(CaseStatus, 0)
    assert (stats.consent_rate, stats.consented, stats.consent_answered) == (None, 0, 0)
    assert stats.signal_to_notice == stats.notice_to_submitted == Median(None, 0)
    assert stats.submitted_to_decision == Median(None, 0)
    zeros = (stats.overdue, stats.dead_letters, stats.unreachable_open, stats.open_without_inbox)
    assert zeros == (0, 0, 0, 0)
    lines = format_stats(stats).splitlines()
    assert "Consent rate                                   —   0 of 0 answered" in lines
    assert "  submitted -> decision                        —       0" in lines


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "0 s"),
        (timedelta(seconds=45), "45 s"),
        (timedelta(seconds=59.6), "1 min"),
        (timedelta(minutes=59, seconds=59), "59 min"),
        (HOUR, "1 h 00 min"),
        (2 * HOUR + 5 * MIN + 40 * timedelta(seconds=1), "2 h 05 min"),
        (23 * HOUR + 59 * MIN, "23 h 59 min"),
        (DAY, "1 d 0 h"),
        (3 * DAY + 4 * HOUR + 59 * MIN, "3 d 4 h"),
        (400 * DAY, "400 d 0 h"),
        (-90 * MIN, "-1 h 30 min"),
    ],
)
def test_humanize_duration(delta: timedelta, expected: str) -> None:
    assert humanize_duration(delta) == expected
