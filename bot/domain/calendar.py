"""Kazakh working-day calendar for the order No. 223 service term (pure: stdlib + `holidays`).

Annex 1 of order No. 223 (items 3 and 7): the provider works Mon-Fri 09:00-18:30 with a lunch
break 13:00-14:30, except days off and public holidays; applications are accepted and results
issued 09:00-17:30. An application made during the lunch break registers at 14:30; one made
after 17:30, or on a day off, at 09:00 of the next working day. The term is 2 working days, and
as results are issued until 17:30, the deadline is 17:30 of the second working day after the
registration day.

Working days are Mon-Fri minus `holidays.country_holidays("KZ")` (public holidays, their
observed Mondays and the government's day transfers it knows about), plus weekend days that a
transfer made working, adjusted by an override table for decrees and religious-holiday dates
announced later (`calendar_overrides.toml`, loaded only through `load_calendar`).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from datetime import MAXYEAR, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import holidays

WORKDAY_START: Final = time(9, 0)
LUNCH_START: Final = time(13, 0)
LUNCH_END: Final = time(14, 30)
INTAKE_END: Final = time(17, 30)  # applications accepted and results issued until then
SERVICE_TERM_WORKING_DAYS: Final = 2

OVERRIDES_PACKAGE: Final = "bot.domain"
OVERRIDES_RESOURCE: Final = "calendar_overrides.toml"

_SERVICE_WINDOWS: Final = ((WORKDAY_START, LUNCH_START), (LUNCH_END, INTAKE_END))
_WEEKEND: Final = frozenset({5, 6})  # Saturday, Sunday
_ONE_DAY: Final = timedelta(days=1)
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_SECTIONS: Final = ("day_off", "working_day")
_ENTRY_KEYS: Final = frozenset({"date", "reason"})


@dataclass(frozen=True, slots=True)
class _KzYear:
    """What the `holidays` package says about one year, as plain sets."""

    weekday_days_off: frozenset[date]
    weekend_working_days: frozenset[date]


@functools.lru_cache(maxsize=64)
def _kz_year(year: int) -> _KzYear:
    """Return the package's weekday days off and working weekend days of `year` (cached).

    The calendar is a frozen value object, so the cache lives here, keyed by year. The next
    year is built too because a transfer is filed under the year of its day off: the decree
    for 3 January 2014 made Saturday 28 December 2013 a working day.
    """
    years = [year] if year == MAXYEAR else [year, year + 1]
    table = holidays.country_holidays("KZ", years=years)
    return _KzYear(
        weekday_days_off=frozenset(d for d in table if d.year == year and d.weekday() < 5),
        weekend_working_days=frozenset(d for d in table.weekend_workdays if d.year == year),
    )


def _require_date(day: date, name: str) -> None:
    if isinstance(day, datetime):
        raise TypeError(f"{name} must be a date, not a datetime: {day!r}")


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days and service-hour rules in one time zone (Asia/Almaty in production)."""

    zone: ZoneInfo
    extra_days_off: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        clash = self.extra_days_off & self.extra_working_days
        if clash:
            listed = ", ".join(d.isoformat() for d in sorted(clash))
            raise ValueError(f"dates both extra day off and extra working day: {listed}")

    def is_working_day(self, day: date) -> bool:
        """Tell whether the provider works on `day`; overrides win over the package."""
        _require_date(day, "day")
        return self._is_working(day)

    def next_working_day(self, day: date) -> date:
        """Return the first working day strictly after `day`."""
        _require_date(day, "day")
        return self._next_working(day)

    def add_working_days(self, day: date, n: int) -> date:
        """Return the n-th working day after `day` (`day` itself when n == 0)."""
        _require_date(day, "day")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        for _ in range(n):
            day = self._next_working(day)
        return day

    def registration_time(self, submitted_at: datetime) -> datetime:
        """Return when an application submitted at `submitted_at` counts as registered.

        Within 09:00-17:30 (both inclusive) of a working day it is the submission itself; before
        09:00 it is 09:00 that day; during the lunch break (13:00 up to 14:30) it is 14:30; after
        17:30 or on a day off it is 09:00 of the next working day. The result is in `self.zone`,
        and applying it twice changes nothing.
        """
        local = self._localize(submitted_at, "submitted_at")
        day = local.date()
        if self._is_working(day):
            if local.time() < WORKDAY_START:
                return self.morning_of(day)
            if LUNCH_START <= local.time() < LUNCH_END:
                return datetime.combine(day, LUNCH_END, tzinfo=self.zone)
            if local.time() <= INTAKE_END:
                return local
        return self.morning_of(self._next_working(day))

    def deadline(
        self, registered_at: datetime, working_days: int = SERVICE_TERM_WORKING_DAYS
    ) -> datetime:
        """Return 17:30 local of the `working_days`-th working day after registration.

        `registered_at` goes through `registration_time` first (a no-op for a registered time),
        so a raw submission time on a Saturday cannot shorten the legal term.
        """
        if working_days < 0:
            raise ValueError(f"working_days must be >= 0, got {working_days}")
        start = self.registration_time(registered_at).date()
        last = self.add_working_days(start, working_days)
        return datetime.combine(last, INTAKE_END, tzinfo=self.zone)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Return the service hours (09:00-13:00 and 14:30-17:30 of working days) from
        `start` to `end`; zero when `end` is not later.

        This is what a school has left to answer in: a deadline at 17:30 two working
        days on is "4 h 30 min" on the last morning, however many nights lie between.
        """
        start = self._localize(start, "start")
        end = self._localize(end, "end")
        total = timedelta(0)
        day = start.date()
        while day <= end.date():
            if self._is_working(day):
                for opens, closes in _SERVICE_WINDOWS:
                    lo = max(datetime.combine(day, opens, tzinfo=self.zone), start)
                    hi = min(datetime.combine(day, closes, tzinfo=self.zone), end)
                    total += max(hi - lo, timedelta(0))
            day += _ONE_DAY
        return total

    def morning_of(self, day: date) -> datetime:
        """Return 09:00 local on `day` (start of the provider's working day)."""
        _require_date(day, "day")
        return datetime.combine(day, WORKDAY_START, tzinfo=self.zone)

    def _is_working(self, day: date) -> bool:
        if day in self.extra_days_off:
            return False
        if day in self.extra_working_days:
            return True
        known = _kz_year(day.year)
        if day.weekday() in _WEEKEND:
            return day in known.weekend_working_days
        return day not in known.weekday_days_off

    def _next_working(self, day: date) -> date:
        day += _ONE_DAY
        while not self._is_working(day):
            day += _ONE_DAY
        return day

    def _localize(self, moment: datetime, name: str) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
        return moment.astimezone(self.zone)


def load_calendar(zone: ZoneInfo, override_path: Path | None = None) -> WorkingCalendar:
    """Build the calendar from the packaged overrides plus, when given, the file `override_path`.

    The operator's file adds to the packaged one rather than replacing it: a local decree must
    not silently drop the dates the release pinned. Where both name a date, the operator's file
    wins (it is the later, local knowledge, e.g. the confirmed date of a religious holiday).
    """
    resource = resources.files(OVERRIDES_PACKAGE).joinpath(OVERRIDES_RESOURCE)
    days_off, working_days = parse_overrides(
        resource.read_text(encoding="utf-8"), f"{OVERRIDES_PACKAGE}/{resource.name}"
    )
    if override_path is not None:
        local_off, local_working = parse_overrides(
            override_path.read_text(encoding="utf-8"), str(override_path)
        )
        days_off = (days_off - local_working) | local_off
        working_days = (working_days - local_off) | local_working
    return WorkingCalendar(zone, extra_days_off=days_off, extra_working_days=working_days)


def parse_overrides(text: str, source: str) -> tuple[frozenset[date], frozenset[date]]:
    """Parse override TOML into (extra days off, extra working days); `source` names the file.

    Raises ValueError naming the file and the entry when anything is malformed, because a
    silently skipped line would move legal deadlines.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ValueError(
            f"{source}: unknown top-level key(s) {unknown}; only [[day_off]] and "
            "[[working_day]] tables are allowed"
        )
    days_off = _parse_section(data, "day_off", source)
    working_days = _parse_section(data, "working_day", source)
    clash = sorted(days_off.keys() & working_days.keys())
    if clash:
        raise ValueError(
            f"{source}: {clash[0].isoformat()} is both [[day_off]] entry {days_off[clash[0]]} "
            f"and [[working_day]] entry {working_days[clash[0]]}"
        )
    return frozenset(days_off), frozenset(working_days)


def _parse_section(data: dict[str, Any], section: str, source: str) -> dict[date, int]:
    entries = data.get(section, [])
    if not isinstance(entries, list):
        raise ValueError(f"{source}: '{section}' must be an array of tables ([[{section}]])")
    seen: dict[date, int] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"{source}: [[{section}]] entry {number}"
        day = _parse_entry(entry, where)
        if day in seen:
            raise ValueError(f"{where}: {day.isoformat()} repeats entry {seen[day]}")
        seen[day] = number
    return seen


def _parse_entry(entry: object, where: str) -> date:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a table with 'date' and 'reason', got {entry!r}")
    missing = sorted(_ENTRY_KEYS - set(entry))
    extra = sorted(set(entry) - _ENTRY_KEYS)
    if missing or extra:
        raise ValueError(f"{where}: missing key(s) {missing}, unknown key(s) {extra}")
    raw, reason = entry["date"], entry["reason"]
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"{where} (date {raw!r}): 'reason' must be a non-empty string")
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and _ISO_DATE.fullmatch(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise ValueError(f"{where}: 'date' {raw!r} is not a real date: {exc}") from exc
    raise ValueError(f"{where}: 'date' must be a date like \"2026-05-27\", got {raw!r}")
