"""Channel health: when a destination is down, how it is probed, what counts against a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery.circuits import GET_ME, PROBE_CAP_S, ChannelHealth, destination_of
from bot.delivery.effects import still_worth_sending
from bot.domain.status import CaseStatus
from storage.outbox import Kind

NOW = datetime(2026, 11, 25, 5, tzinfo=UTC)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_destinations_are_the_bot_api_the_gateway_and_each_school() -> None:
    assert destination_of("telegram", "-100123") == destination_of("telegram", "42") == "telegram"
    assert destination_of("sms", "sms") == "sms"
    assert destination_of("webhook", "school:7") == "webhook:school:7"


def test_probes_one_at_a_time_backing_off_to_the_cap() -> None:
    ticks, closed = Ticks(), []
    health = ChannelHealth(ticks, on_close=lambda d, s: closed.append((d, s)))
    assert health.failed("sms", 1, "sms gateway timed out") is False
    assert health.blocked() == ({"sms"}, set())

    gaps = []
    for _ in range(6):
        start = ticks.now
        while not health.take_probe("sms", 2):
            ticks.now += 0.5
        gaps.append(ticks.now - start)
        assert not health.take_probe("sms", 3)  # one probe at a time
        health.failed("sms", 2, "sms gateway answered HTTP 503")
    ticks.now += PROBE_CAP_S
    assert health.take_probe("sms", 2)
    health.reachable("sms", 2)

    assert gaps == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert closed and closed[0][0] == "sms" and not health.is_open("sms")
    assert health.outages("sms") == 1 and health.channel_up("sms")


def test_a_suspect_failing_again_after_the_channel_proved_up_counts_against_itself() -> None:
    ticks = Ticks()
    health = ChannelHealth(ticks)
    assert health.failed("telegram", 5, "telegram TelegramServerError") is False  # opens
    ticks.now += 1.0
    assert health.take_probe("telegram", GET_ME)
    health.reachable("telegram", GET_ME)  # getMe answered: Telegram is up

    assert health.failed("telegram", 5, "telegram TelegramServerError") is True  # its own fault
    assert not health.is_open("telegram")
    assert health.failed("telegram", 6, "telegram TelegramNetworkError") is False  # a new outage
    assert health.is_open("telegram")


def test_outage_escalated_once_after_the_setting_and_time_down_counted() -> None:
    ticks = Ticks()
    health = ChannelHealth(ticks)
    health.failed("webhook:school:3", 9, "webhook timed out")
    ticks.now += 599
    assert list(health.lasting(600)) == []
    ticks.now += 2
    [circuit] = health.lasting(600)
    health.escalated(circuit)

    assert list(health.lasting(600)) == []
    assert health.escalations("webhook") == 1
    assert health.down_seconds("webhook") == pytest.approx(601)
    assert not health.channel_up("webhook") and health.channel_up("telegram")


@pytest.mark.parametrize(
    ("kind", "status", "deadline", "worth"),
    [
        (Kind.NOTICE, CaseStatus.RECEIVED, None, True),
        (Kind.NOTICE, CaseStatus.EXPIRED, None, False),
        (Kind.NOTICE, CaseStatus.ACCEPTED, None, False),
        (Kind.SCHOOL_PACKAGE, CaseStatus.SUBMITTED, NOW + timedelta(days=3), True),
        (Kind.SCHOOL_PACKAGE, CaseStatus.SUBMITTED, NOW - timedelta(minutes=1), False),
        (Kind.SCHOOL_PACKAGE, CaseStatus.CANCELLED, NOW + timedelta(days=3), False),
        (Kind.REPLY, CaseStatus.NOTIFIED, None, False),
        (Kind.NOTICE, None, None, False),
    ],
)
def test_still_worth_sending_until_the_case_ends_or_the_school_deadline(
    kind: Kind, status: CaseStatus | None, deadline: datetime | None, worth: bool
) -> None:
    assert still_worth_sending(kind, status, deadline, NOW) is worth


def test_a_due_probe_without_a_row_asks_for_one_claim_and_no_busy_wait() -> None:
    ticks = Ticks()
    health = ChannelHealth(ticks)
    health.failed("webhook:school:4", 1, "webhook answered HTTP 503")
    assert health.next_probe_in() == pytest.approx(1.0) and not health.row_probe_due()

    ticks.now += 1.0
    assert health.row_probe_due() and not health.row_probe_due()  # one claim, not one a pass
    assert health.next_probe_in() == float("inf")  # nothing to wake up for until a row comes
    assert health.blocked() == (set(), set())  # the next due row is claimed as the probe
