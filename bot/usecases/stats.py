"""Operational statistics for `homeschool-bot stats`: where cases are and how fast they move.

Definitions (so the numbers can be compared over time):
- consent rate: cases whose guardian ever agreed / cases with any consent answer, from
  the consent records (the evidence), not from case status: a case that was declined by
  mistake and then re-consented counts once, as consent, and a case keeps its answer
  after it expires or is cancelled. Cases nobody answered are not in the rate.
- signal -> notice: `created_at` -> `notified_at`; notice -> submitted: `notified_at` ->
  `submitted_at`; submitted -> decision: `submitted_at` -> `decided_at`. A case counts
  in a median once it has both timestamps; purged cases keep their timestamps.
- open case: any status outside FINAL_STATUSES (a declined case is open: re-consent).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.status import FINAL_STATUSES, CaseStatus
from bot.runtime import Services
from storage.models import Case
from storage.repositories import stats as repo

_FINAL = [status.value for status in FINAL_STATUSES]
_LABEL_WIDTH = 36
_VALUE_WIDTH = 12
NO_DATA = "—"


@dataclass(frozen=True)
class Median:
    """The median of one stage's durations and how many cases it was taken over."""

    value: timedelta | None
    cases: int

    @classmethod
    def of(cls, durations: list[timedelta]) -> Median:
        if not durations:
            return cls(None, 0)
        seconds = statistics.median(d.total_seconds() for d in durations)
        return cls(timedelta(seconds=seconds), len(durations))


@dataclass(frozen=True)
class Stats:
    at: datetime
    by_status: dict[CaseStatus, int]
    consented: int
    consent_answered: int
    signal_to_notice: Median
    notice_to_submitted: Median
    submitted_to_decision: Median
    overdue: int
    dead_letters: int
    unreachable_open: int
    open_without_inbox: int

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def consent_rate(self) -> float | None:
        """Share of answered cases that consented, or None before any answer."""
        return self.consented / self.consent_answered if self.consent_answered else None


async def collect_stats(svc: Services) -> Stats:
    """Read every figure in one read-only transaction, so they describe one moment."""
    async with svc.sessions() as session, session.begin():
        stored = await repo.count_cases_by_status(session)
        consented, answered = await repo.count_consent_answers(session)
        to_notice = await repo.list_durations(session, Case.created_at, Case.notified_at)
        to_submit = await repo.list_durations(session, Case.notified_at, Case.submitted_at)
        to_decide = await repo.list_durations(session, Case.submitted_at, Case.decided_at)
        dead = await repo.count_outbox(session, "dead")
        unreachable = await repo.count_open_cases_of_unreachable(session, _FINAL)
        no_inbox = await repo.count_open_cases_without_inbox(session, _FINAL)
    by_status = {status: stored.get(status.value, 0) for status in CaseStatus}
    return Stats(
        at=svc.clock.now(),
        by_status=by_status,
        consented=consented,
        consent_answered=answered,
        signal_to_notice=Median.of(to_notice),
        notice_to_submitted=Median.of(to_submit),
        submitted_to_decision=Median.of(to_decide),
        overdue=by_status[CaseStatus.OVERDUE],
        dead_letters=dead,
        unreachable_open=unreachable,
        open_without_inbox=no_inbox,
    )


def humanize_duration(delta: timedelta) -> str:
    """Render a duration the way people read it: "45 s", "12 min", "2 h 05 min", "3 d 4 h"."""
    seconds = round(delta.total_seconds())
    if seconds < 0:
        return "-" + humanize_duration(-delta)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def format_stats(stats: Stats) -> str:
    """Render the statistics as a fixed-width plain-text table."""
    lines = [f"Statistics as of {stats.at:%Y-%m-%d %H:%M %Z}", "", "Cases by status"]
    lines += [_row(f"  {status.value}", stats.by_status[status]) for status in CaseStatus]
    lines += [_row("  total", stats.total), ""]
    rate = stats.consent_rate
    lines.append(
        _row(
            "Consent rate",
            NO_DATA if rate is None else f"{rate:.1%}",
            f"{stats.consented} of {stats.consent_answered} answered",
        )
    )
    lines += [
        _row("Overdue cases", stats.overdue),
        _row("Dead-letter outbox messages", stats.dead_letters),
        _row("Open cases, guardian unreachable", stats.unreachable_open),
        _row("Open cases without a school inbox", stats.open_without_inbox),
        "",
        _row("Median time", "median", "cases"),
    ]
    for label, median in (
        ("signal -> notice", stats.signal_to_notice),
        ("notice -> submitted", stats.notice_to_submitted),
        ("submitted -> decision", stats.submitted_to_decision),
    ):
        value = NO_DATA if median.value is None else humanize_duration(median.value)
        lines.append(_row(f"  {label}", value, f"{median.cases:>5}"))
    return "\n".join(lines)


def _row(label: str, value: object, note: str = "") -> str:
    line = f"{label:<{_LABEL_WIDTH}}{value!s:>{_VALUE_WIDTH}}"
    return f"{line}   {note}" if note else line
