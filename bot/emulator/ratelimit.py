"""Flood control with sliding windows: per private chat, per group chat and per bot."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.emulator.errors import too_many_requests


@dataclass(frozen=True)
class Limit:
    """At most `max_calls` accepted sends in any window of `window` seconds."""

    max_calls: int
    window: float


@dataclass(frozen=True)
class RateLimits:
    """Telegram's documented bot limits; None switches a limit off."""

    private_chat: Limit | None = Limit(1, 1.0)
    group_chat: Limit | None = Limit(20, 60.0)
    per_bot: Limit | None = Limit(30, 1.0)

    @classmethod
    def disabled(cls) -> RateLimits:
        """Return limits that never reject, for demos that replay a story quickly."""
        return cls(private_chat=None, group_chat=None, per_bot=None)


class SlidingWindow:
    """Timestamps of accepted sends inside one limit's window."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._hits: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        """Return how long until one more send fits (0.0 when it fits now)."""
        while self._hits and self._hits[0] <= now - self.limit.window:
            self._hits.popleft()
        excess = len(self._hits) - self.limit.max_calls
        if excess < 0:
            return 0.0
        return self._hits[excess] + self.limit.window - now

    def record(self, now: float) -> None:
        """Count one accepted send at `now`."""
        self._hits.append(now)


class RateLimiter:
    """Accept or reject message sends; rejected sends are not counted against the window."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._per_bot: SlidingWindow | None = None
        self._per_chat: dict[int, SlidingWindow] = {}
        self.reset(limits)

    def reset(self, limits: RateLimits) -> None:
        """Switch to new limits and forget previous sends."""
        self.limits = limits
        self._per_bot = SlidingWindow(limits.per_bot) if limits.per_bot else None
        self._per_chat.clear()

    def acquire(self, chat_id: int, *, private: bool) -> None:
        """Record one send to `chat_id` or raise a 429 ApiError with `retry_after`."""
        now = self._clock()
        windows = [w for w in (self._per_bot, self._chat_window(chat_id, private)) if w]
        wait = max((w.wait_time(now) for w in windows), default=0.0)
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        for window in windows:
            window.record(now)

    def _chat_window(self, chat_id: int, private: bool) -> SlidingWindow | None:
        limit = self.limits.private_chat if private else self.limits.group_chat
        if limit is None:
            return None
        window = self._per_chat.get(chat_id)
        if window is None:
            window = self._per_chat[chat_id] = SlidingWindow(limit)
        return window
