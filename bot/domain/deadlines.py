"""The legal term as the core sees it; the Kazakh calendar itself lives in `scheduler`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol


class WorkingDays(Protocol):
    """What the rules need from a working-day calendar (bot.domain.calendar provides it)."""

    def is_working_day(self, day: date) -> bool: ...

    def registration_time(self, submitted_at: datetime) -> datetime: ...

    def deadline(self, registered_at: datetime, working_days: int = 2) -> datetime: ...

    def morning_of(self, day: date) -> datetime: ...

    def working_time_between(self, start: datetime, end: datetime) -> timedelta: ...
