"""Injected time source: rules and jobs ask it instead of calling datetime.now()."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@functools.lru_cache(maxsize=8)
def service_zone(name: str) -> ZoneInfo:
    """The zone `name` from the `tzdata` package this project depends on, not from the host.

    `ZoneInfo(name)` reads the host's database first, and a host with data older than 2024a
    still puts Almaty on UTC+6: every registration time and deadline would be an hour off.
    Cached, so the service uses one zone object throughout.
    """
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts):
        raise ZoneInfoNotFoundError(f"no time zone {name!r}")
    resource = resources.files("tzdata").joinpath("zoneinfo", *parts)
    if not resource.is_file():
        raise ZoneInfoNotFoundError(f"no time zone {name!r} in the tzdata package")
    with resource.open("rb") as handle:
        return ZoneInfo.from_file(handle, key=name)


class Clock:
    """Wall-clock time in the service's zone."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def now(self) -> datetime:
        return datetime.now(self.zone)

    def timestamp(self) -> float:
        return time.time()


@dataclass
class FrozenClock(Clock):
    """A clock that moves only when told to: tests drive deadlines without sleeping."""

    current: datetime
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Almaty"))

    def now(self) -> datetime:
        return self.current.astimezone(self.zone)

    def timestamp(self) -> float:
        return self.current.timestamp()

    def advance(self, delta: timedelta) -> None:
        self.current = self.current + delta

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.current = moment.astimezone(UTC)


class ShiftedClock(Clock):
    """Real time moving from a chosen start: the demo and end-to-end tests run "on a
    working morning" whatever the hour, yet retries and timeouts still elapse."""

    def __init__(self, start: datetime, zone: ZoneInfo) -> None:
        super().__init__(zone)
        if start.tzinfo is None:
            raise ValueError("ShiftedClock needs an aware start")
        self._start = start
        self._origin = time.monotonic()

    def now(self) -> datetime:
        elapsed = timedelta(seconds=time.monotonic() - self._origin)
        return (self._start + elapsed).astimezone(self.zone)

    def timestamp(self) -> float:
        return self.now().timestamp()
