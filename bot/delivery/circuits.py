"""Health of each destination: an unreachable one is an outage, not a failed message.

A destination is the Bot API, the SMS gateway or one school's webhook. A network error,
a timeout or a 5xx from it opens its circuit: nothing more is sent there and no row's
attempts are counted (the rows wait, due as they were). One probe at a time checks
whether it is back (getMe for Telegram, the next due row for the others), first after
`PROBE_FIRST_S`, then doubling up to `PROBE_CAP_S`; the first success closes the circuit
and the dispatcher claims the backlog at once.

A 5xx can also be about one request (Telegram fails one upload, a school's server
chokes on one package). A row whose failure opened a circuit that then closed again
without it is a *suspect*: its next failure of the same kind counts against it, so one
bad message cannot hold a channel down for ever.

The state lives with the one sender of the bot token (`bot.delivery.leader`): only that
process sends, so only it can see a destination fail or recover. A replica that takes
over starts with every circuit closed and finds a lasting outage on its first sends
(counted against no row); it then times the outage from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PROBE_FIRST_S = 1.0
PROBE_CAP_S = 5.0  # the backlog moves within this (plus a send) of the return
TELEGRAM = "telegram"
GET_ME = 0  # the probe id of Telegram's getMe (row ids start at 1)


def destination_of(channel: str, recipient: str) -> str:
    """One circuit per Bot API, per SMS gateway, and per school webhook."""
    return f"webhook:{recipient}" if channel == "webhook" else channel


def channel_of(destination: str) -> str:
    return destination.partition(":")[0]


@dataclass
class Circuit:
    """An open circuit: the destination is down since `opened_at` (monotonic seconds)."""

    destination: str
    opened_at: float
    error: str
    next_probe: float
    probes: int = 0
    probe: int | None = None  # the row id of the probe in flight (GET_ME: Telegram's getMe)
    claimed_for_probe: bool = False  # a claim was asked for since the probe came due
    escalated: bool = False

    def down_for(self, now: float) -> float:
        return max(0.0, now - self.opened_at)


@dataclass
class ChannelStats:
    """What metrics show of one channel (telegram, sms, webhook) since start."""

    outages: int = 0
    escalations: int = 0
    down_s: float = 0.0  # closed outages only; `ChannelHealth.down_seconds` adds open ones


@dataclass
class ChannelHealth:
    """The circuits of one sender; never sleeps, the dispatcher asks it what may go."""

    monotonic: Callable[[], float]
    on_close: Callable[[str, float], None] = lambda destination, down_s: None
    circuits: dict[str, Circuit] = field(default_factory=dict)
    stats: dict[str, ChannelStats] = field(default_factory=dict)
    _closings: dict[str, int] = field(default_factory=dict)
    _suspects: dict[int, tuple[str, int]] = field(default_factory=dict)

    def is_open(self, destination: str) -> bool:
        return destination in self.circuits

    def blocked(self) -> tuple[set[str], set[str]]:
        """(channels, webhook recipients) not to claim rows for now.

        A destination whose probe is due is not blocked: its next due row is claimed
        and goes as the probe (`take_probe`). Telegram is probed with getMe, so its
        rows stay back until the circuit closes.
        """
        now = self.monotonic()
        channels: set[str] = set()
        recipients: set[str] = set()
        for destination, circuit in self.circuits.items():
            probe_due = circuit.probe is None and now >= circuit.next_probe
            if destination == TELEGRAM or not probe_due:
                channel, _, recipient = destination.partition(":")
                (recipients.add(recipient) if recipient else channels.add(channel))
        return channels, recipients

    def take_probe(self, destination: str, row_id: int) -> bool:
        """Whether this row (or GET_ME) may go to the open destination now, as its probe."""
        circuit = self.circuits[destination]
        if circuit.probe is not None or self.monotonic() < circuit.next_probe:
            return False
        circuit.probe = row_id
        return True

    def next_probe_in(self) -> float:
        """Seconds until the next probe comes due (inf when none will).

        A probe already due is not counted: it waits for a row (`row_probe_due`), and
        a wait of 0 would spin the dispatcher while the destination has none due.
        """
        now = self.monotonic()
        waits = [c.next_probe - now for c in self.circuits.values() if c.probe is None]
        return min((wait for wait in waits if wait > 0), default=float("inf"))

    def row_probe_due(self) -> bool:
        """Whether a destination probed with its next due row came due since last asked:
        the dispatcher then claims once (and at its sweeps, as always)."""
        now, due = self.monotonic(), False
        for destination, circuit in self.circuits.items():
            if destination == TELEGRAM or circuit.probe is not None or now < circuit.next_probe:
                continue
            due = due or not circuit.claimed_for_probe
            circuit.claimed_for_probe = True
        return due

    def failed(self, destination: str, row_id: int, error: str) -> bool:
        """A send (or GET_ME) found the destination unreachable; return whether the
        failure counts against the row instead (a suspect failing again)."""
        closings = self._closings.get(destination, 0)
        circuit = self.circuits.get(destination)
        suspect = self._suspects.get(row_id)
        if circuit is None and suspect is not None and suspect[1] < closings:
            self._suspects[row_id] = (destination, closings)
            return True
        if row_id != GET_ME:
            self._suspects[row_id] = (destination, closings)
        if circuit is None:
            self._open(destination, error)
        elif circuit.probe == row_id:
            self._probe_failed(circuit, error)
        return False

    def reachable(self, destination: str, row_id: int) -> None:
        """The destination answered (delivered, or refused the message itself): it is up."""
        self._suspects.pop(row_id, None)
        circuit = self.circuits.pop(destination, None)
        if circuit is None:
            return
        down_s = circuit.down_for(self.monotonic())
        self._closings[destination] = self._closings.get(destination, 0) + 1
        self.stats.setdefault(channel_of(destination), ChannelStats()).down_s += down_s
        log.warning(
            "%s is reachable again after %.0f s down (%d probes)",
            destination,
            down_s,
            circuit.probes,
        )
        self.on_close(destination, down_s)

    def no_answer(self, destination: str, row_id: int) -> None:
        """The row never reached the destination (a bug, a purged document): if it was
        the probe, the next due row probes instead."""
        circuit = self.circuits.get(destination)
        if circuit is not None and circuit.probe == row_id:
            circuit.probe = None
            circuit.claimed_for_probe = False

    def forget(self, row_id: int) -> None:
        """The row is finished (dead, or its lease lost): it is nobody's suspect."""
        self._suspects.pop(row_id, None)

    def lasting(self, after_s: float) -> Iterator[Circuit]:
        """Open circuits down for longer than `after_s` and not escalated yet."""
        now = self.monotonic()
        for circuit in self.circuits.values():
            if not circuit.escalated and circuit.down_for(now) >= after_s:
                yield circuit

    def escalated(self, circuit: Circuit) -> None:
        circuit.escalated = True
        self.stats.setdefault(channel_of(circuit.destination), ChannelStats()).escalations += 1

    def down_seconds(self, channel: str) -> float:
        """Seconds the channel's destinations were down since start, open outages too."""
        now = self.monotonic()
        closed = self.stats.get(channel, ChannelStats()).down_s
        return closed + sum(
            c.down_for(now) for d, c in self.circuits.items() if channel_of(d) == channel
        )

    def channel_up(self, channel: str) -> bool:
        return not any(channel_of(d) == channel for d in self.circuits)

    def outages(self, channel: str) -> int:
        return self.stats.get(channel, ChannelStats()).outages

    def escalations(self, channel: str) -> int:
        return self.stats.get(channel, ChannelStats()).escalations

    def _open(self, destination: str, error: str) -> None:
        now = self.monotonic()
        self.circuits[destination] = Circuit(destination, now, error, now + PROBE_FIRST_S)
        self.stats.setdefault(channel_of(destination), ChannelStats()).outages += 1
        log.error(
            "%s is unreachable (%s): sending there stops until it answers", destination, error
        )

    def _probe_failed(self, circuit: Circuit, error: str) -> None:
        circuit.probes += 1
        circuit.probe = None
        circuit.claimed_for_probe = False
        circuit.error = error
        delay = min(PROBE_CAP_S, PROBE_FIRST_S * 2.0**circuit.probes)
        circuit.next_probe = self.monotonic() + delay
