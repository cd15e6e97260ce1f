"""Client-side pacing of Bot API sends, and the retry backoff.

Telegram answers 429 once a bot exceeds about 30 messages a second overall, one a second
in a private chat or 20 a minute in a group, and may then slow the bot down for a
while. The dispatcher asks this pacer *before* each send so that a 429 stays an
exception.

Telegram counts a message when it processes the request: after we sent it, before its
answer reaches us. Both windows (a chat's and the bot's) therefore count a send from the
moment its answer came back, the only time known to be no earlier than Telegram's, and
count sends still in flight as inside the window. An earlier version guessed Telegram's
time as `answer - fastest round trip`; under load our own share of the round trip made
that guess land before Telegram's count, and a burst's 31st message drew a 429. The
price of certainty is the round trip: at ~100 ms to Telegram the bot-wide rate is about
a tenth below the limit when every slot is used, which costs less than a 429 (Telegram
may slow a bot down for a while after one).

On top of the bot-wide window, sends are spaced evenly (one per `1 / rate` s, GCRA) so
they do not leave in bursts; a send that leaves a little late does not push the
schedule back, so the achieved rate stays close to the configured one.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from collections.abc import Callable

PRIVATE_LIMIT = (1, 1.0)  # (messages, seconds) per private chat
GROUP_LIMIT = (20, 60.0)  # per group, supergroup or channel
LATE_SLACK = 2.0  # a send this late (x interval) keeps the schedule; later (idle) restarts it
IN_FLIGHT_POLL_S = 0.005  # re-check interval while only sends in flight fill the window

ChatId = int | str


def is_private(chat_id: ChatId) -> bool:
    """Tell whether a chat id is a user's private chat (positive ids)."""
    return isinstance(chat_id, int) and chat_id > 0


def backoff_delay(
    failures: int, rng: random.Random, *, base: float = 2.0, cap: float = 600.0
) -> float:
    """Return seconds to wait after the `failures`-th consecutive failure (0-based).

    Exponential (`base * 2**failures`) with ±50 % jitter so that rows which failed
    together (a webhook down for a minute) do not all come back at the same instant;
    never more than `cap`.
    """
    exponent = min(failures, 30)
    return min(cap, base * 2.0**exponent * rng.uniform(0.5, 1.5))


class SlidingWindow:
    """At most `max_calls` sends in any window of `window` seconds, given `active` ones
    whose time is not known yet (in flight: they count as recent)."""

    def __init__(self, max_calls: int, window: float) -> None:
        self.max_calls = max_calls
        self.window = window
        self._hits: list[float] = []  # sorted; estimates may arrive out of order

    def wait_time(self, now: float, active: int = 0) -> float:
        """Return how long until one more send fits (0.0: now; inf: when one lands)."""
        expired = bisect.bisect_right(self._hits, now - self.window)
        if expired:
            del self._hits[:expired]
        excess = len(self._hits) + active - self.max_calls
        if excess < 0:
            return 0.0
        if excess >= len(self._hits):
            return math.inf
        return self._hits[excess] + self.window - now

    def record(self, at: float) -> None:
        bisect.insort(self._hits, at)

    def idle(self, now: float) -> bool:
        """Tell whether the window has forgotten every send (so it can be dropped)."""
        return not self._hits or self._hits[-1] <= now - self.window


class TelegramPacer:
    """Decides when the next message to a chat may leave; holds no locks, never sleeps.

    Call `begin` when a send leaves and `end` when its answer (or error) is back.
    """

    def __init__(self, rate_per_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.clock = clock
        self._interval = 1.0 / rate_per_s
        per_window = max(1, math.floor(rate_per_s))
        self._bot = SlidingWindow(per_window, per_window / rate_per_s)
        self._in_flight = 0
        self._next_slot = -math.inf
        self._global_pause_until = -math.inf
        self._chats: dict[ChatId, SlidingWindow] = {}
        self._chat_pause_until: dict[ChatId, float] = {}

    def wait_time(self, chat_id: ChatId, now: float | None = None) -> float:
        """Return seconds until a message to `chat_id` may be sent (0.0: now)."""
        now = self.clock() if now is None else now
        return max(self.global_wait(now), self.chat_wait(chat_id, now))

    def global_wait(self, now: float | None = None) -> float:
        """Return seconds until the bot-wide budget admits one more message."""
        now = self.clock() if now is None else now
        window = self._bot.wait_time(now, self._in_flight)
        if window == math.inf:
            window = IN_FLIGHT_POLL_S
        return max(0.0, self._next_slot - now, self._global_pause_until - now, window)

    def chat_wait(self, chat_id: ChatId, now: float) -> float:
        pause = self._chat_pause_until.get(chat_id, -math.inf) - now
        window = self._chats.get(chat_id)
        return max(0.0, pause, window.wait_time(now) if window else 0.0)

    def begin(self, chat_id: ChatId, now: float | None = None) -> None:
        """Count one message leaving for `chat_id` (only when `wait_time` is 0)."""
        now = self.clock() if now is None else now
        on_schedule = self._next_slot >= now - LATE_SLACK * self._interval
        self._next_slot = (self._next_slot if on_schedule else now) + self._interval
        self._in_flight += 1

    def end(self, chat_id: ChatId, now: float | None = None) -> None:
        """The answer to a send to `chat_id` arrived (whatever it said)."""
        now = self.clock() if now is None else now
        self._in_flight = max(0, self._in_flight - 1)
        self._bot.record(now)
        window = self._chats.get(chat_id)
        if window is None:
            count, seconds = PRIVATE_LIMIT if is_private(chat_id) else GROUP_LIMIT
            window = self._chats[chat_id] = SlidingWindow(count, seconds)
        window.record(now)

    def pause_chat(self, chat_id: ChatId, seconds: float) -> None:
        """Send nothing to `chat_id` for `seconds` (Telegram's `retry_after`)."""
        until = self.clock() + seconds
        self._chat_pause_until[chat_id] = max(until, self._chat_pause_until.get(chat_id, until))

    def pause_all(self, seconds: float) -> None:
        """Send nothing at all for `seconds`."""
        self._global_pause_until = max(self._global_pause_until, self.clock() + seconds)

    def prune(self) -> None:
        """Forget chats whose windows and pauses have expired (bounded memory)."""
        now = self.clock()
        for chat_id in [c for c, w in self._chats.items() if w.idle(now)]:
            del self._chats[chat_id]
        for chat_id in [c for c, t in self._chat_pause_until.items() if t <= now]:
            del self._chat_pause_until[chat_id]
