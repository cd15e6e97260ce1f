"""Prometheus metrics of one process (own registry, so several apps can share a test run)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseStatus
from storage.models import Case, OutboxMessage
from storage.outbox import Channel

SIGNAL_RESULTS = {
    200: "duplicate",
    202: "accepted",
    400: "malformed",
    401: "unauthorized",
    409: "conflict",
    413: "too_large",
    415: "malformed",
    422: "invalid",
}


DELIVERY_RESULTS = ("sent", "retried", "dead")


class DeliveryCounters(Protocol):
    """The dispatcher's running totals (bot.delivery.outcomes.DeliveryCounters)."""

    @property
    def by_channel(self) -> Mapping[tuple[str, str], int]: ...

    @property
    def rate_limited(self) -> int: ...


class ChannelStatus(Protocol):
    """The sender's view of each channel (bot.delivery.circuits.ChannelHealth)."""

    def channel_up(self, channel: str) -> bool: ...

    def down_seconds(self, channel: str) -> float: ...

    def outages(self, channel: str) -> int: ...

    def escalations(self, channel: str) -> int: ...


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.signals = Counter(
            "homeschool_signals_received", "Health signals by result", ["result"], registry=r
        )
        self.update_seconds = Histogram(
            "homeschool_update_handling_seconds", "Time to handle one Telegram update", registry=r
        )
        self.unexpected_updates = Counter(
            "homeschool_unexpected_updates",
            "Telegram updates the bot does not handle",
            ["kind"],
            registry=r,
        )
        self.cases = Gauge("homeschool_cases", "Cases by status", ["status"], registry=r)
        self.outbox_backlog = Gauge(
            "homeschool_outbox_backlog", "Outbox rows waiting to be sent", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "homeschool_outbox_oldest_pending_seconds", "Age of the oldest unsent row", registry=r
        )
        self.outbox_oldest_due = Gauge(
            "homeschool_outbox_oldest_due_seconds",
            "How long the longest-overdue row has been due and not sent (0: none overdue); "
            "unlike the oldest pending age it ignores rows deferred on purpose (quiet hours)",
            registry=r,
        )
        self.deadline_breaches = Gauge(
            "homeschool_deadline_breaches",
            "Cases whose school answered late or not yet",
            registry=r,
        )

    def watch_delivery(self, counters: Callable[[], DeliveryCounters]) -> None:
        """Export the dispatcher's running totals (read at scrape time, never reset)."""
        self.registry.register(_DeliveryCollector(counters))

    def watch_channels(self, status: ChannelStatus) -> None:
        """Export whether each channel answers, as the sender of this process sees it."""
        self.registry.register(_ChannelCollector(status))

    def count_signal(self, status: int) -> None:
        self.signals.labels(SIGNAL_RESULTS.get(status, "error")).inc()

    def observer(self) -> Callable[[float], None]:
        return self.update_seconds.observe

    async def refresh(self, session: AsyncSession, now: datetime) -> None:
        """Read the gauges from the database just before a scrape."""
        counts = dict(
            (await session.execute(select(Case.status, func.count()).group_by(Case.status))).all()
        )
        for status in CaseStatus:
            self.cases.labels(status.value).set(counts.get(status.value, 0))
        waiting = OutboxMessage.status.in_(("pending", "retry", "sending"))
        backlog, oldest = (
            await session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(waiting)
            )
        ).one()
        self.outbox_backlog.set(backlog)
        self.outbox_oldest_age.set((now - oldest).total_seconds() if oldest else 0)
        due_since = (
            await session.execute(
                select(
                    func.min(OutboxMessage.next_attempt_at).filter(
                        OutboxMessage.status.in_(("pending", "retry")),
                        OutboxMessage.next_attempt_at <= now,
                    ),
                    func.min(OutboxMessage.claimed_until).filter(
                        (OutboxMessage.status == "sending") & (OutboxMessage.claimed_until < now)
                    ),
                )
            )
        ).one()
        overdue = [(now - since).total_seconds() for since in due_since if since is not None]
        self.outbox_oldest_due.set(max(overdue, default=0))
        # The school's answer is its first decision: a preliminary refusal in time is in
        # time, however long the hearing that follows it takes (APPK art. 73).
        answered_at = func.coalesce(Case.hearing_started_at, Case.decided_at)
        late = Case.deadline_at.is_not(None) & (
            (Case.status == CaseStatus.OVERDUE.value) | (answered_at > Case.deadline_at)
        )
        self.deadline_breaches.set(
            (await session.execute(select(func.count()).where(late))).scalar_one()
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DeliveryCollector(Collector):
    def __init__(self, counters: Callable[[], DeliveryCounters]) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        current = self._counters()
        messages = CounterMetricFamily(
            "homeschool_messages",
            "Outgoing messages by channel (telegram, webhook, sms) and result",
            labels=["channel", "result"],
        )
        for channel in Channel:
            for result in DELIVERY_RESULTS:
                messages.add_metric(
                    [channel.value, result], current.by_channel.get((channel.value, result), 0)
                )
        yield messages
        yield CounterMetricFamily(
            "homeschool_telegram_429", "429 answers from the Bot API", value=current.rate_limited
        )


class _ChannelCollector(Collector):
    """A replica standing by sends nothing, so it always shows its channels up."""

    def __init__(self, status: ChannelStatus) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status
        up = GaugeMetricFamily(
            "homeschool_channel_up",
            "1 while the channel answers, 0 while any of its destinations is down",
            labels=["channel"],
        )
        down = CounterMetricFamily(
            "homeschool_channel_down_seconds",
            "Seconds the channel's destinations were down (the current outage included)",
            labels=["channel"],
        )
        outages = CounterMetricFamily(
            "homeschool_channel_outages", "Outages that began", labels=["channel"]
        )
        escalated = CounterMetricFamily(
            "homeschool_channel_outage_escalations",
            "Outages that lasted past OUTAGE_ESCALATION_AFTER_S",
            labels=["channel"],
        )
        for channel in Channel:
            up.add_metric([channel.value], 1 if status.channel_up(channel.value) else 0)
            down.add_metric([channel.value], status.down_seconds(channel.value))
            outages.add_metric([channel.value], status.outages(channel.value))
            escalated.add_metric([channel.value], status.escalations(channel.value))
        yield from (up, down, outages, escalated)
