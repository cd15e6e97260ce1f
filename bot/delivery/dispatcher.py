"""The outbox dispatcher: sends committed outbox rows at Telegram's pace.

One background task per process. It sleeps until a commit that wrote outbox rows sets
`Delivering.outbox_wakeup` (the first message leaves at once) or the sweep timer fires (rows
whose retry time came, rows left `sending` by a crashed process). Due rows are leased
in a short transaction (`bot.delivery.claims`), then sent outside any transaction:
a Telegram chat's next message waits for the pacer (`bot.delivery.pacing`) while
messages to other chats go ahead, and the rows of one chat or school webhook leave one
at a time in id order. A row that cannot leave within a few seconds (its chat is
paced, or an earlier message to it failed) is given back with the time it may go, so
no lease is held while waiting. `bot.delivery.outcomes` sends each row and decides its
outcome; `bot.delivery.recorder` commits outcomes that finish close together in one
transaction. `stop()` lets the sends in flight finish and gives queued rows back; the
rows of a killed process come back a few seconds after the next sender starts
(`claims.recover_orphans`), or when their lease ends.

With PostgreSQL only the replica holding the bot token's advisory lock sends
(`bot.delivery.leader`); the others stand by and take over when it goes away.

A destination that does not answer (the Bot API, the SMS gateway, a school's webhook)
has its circuit opened (`bot.delivery.circuits`): its rows are neither claimed nor
sent, one probe at a time checks whether it is back, and when it is the backlog is
claimed at once. An outage longer than `OUTAGE_ESCALATION_AFTER_S` is escalated once
through `DeliveryHooks.channel_down`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from bot.delivery.circuits import GET_ME, TELEGRAM, ChannelHealth, Circuit, destination_of
from bot.delivery.claims import Claim, claim_due, recover_orphans, release
from bot.delivery.leader import SenderLock
from bot.delivery.outcomes import DeliveryCounters, DeliveryHooks, Hold, RowDelivery
from bot.delivery.pacing import TelegramPacer
from bot.delivery.senders import ChannelDown, NoBot, Senders, TelegramChannel, Undeliverable
from bot.runtime import Delivering

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

__all__ = ["DeliveryCounters", "DeliveryHooks", "OutboxDispatcher", "Undeliverable"]


class OutboxDispatcher:
    """Sends outbox rows; `start()`/`stop()` in the app, `run_until_idle()` in tests."""

    def __init__(
        self,
        delivering: Delivering,
        hooks: DeliveryHooks,
        bot: Bot | None,
        http: httpx.AsyncClient,
        *,
        batch_size: int = 100,
        lease_s: float = 60.0,
        orphan_grace_s: float = 5.0,
        sweep_interval_s: float = 1.0,
        standby_interval_s: float = 3.0,
        park_horizon_s: float = 5.0,
        max_attempts: int = 8,
        max_in_flight: int = 32,
        commit_linger_s: float = 0.1,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        on_telegram_back: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._delivering = delivering
        self._hooks = hooks
        rate = delivering.telegram_rate_per_s
        self._pacer = TelegramPacer(rate, clock=monotonic)
        self._senders = Senders(delivering, _telegram_channel(delivering, bot), http)
        self.health = ChannelHealth(monotonic, on_close=self._destination_back)
        self._escalate_after_s = delivering.outage_escalation_after_s
        self._on_telegram_back = on_telegram_back
        self._background: set[asyncio.Task[None]] = set()
        self._rows = RowDelivery(
            delivering,
            hooks,
            self._senders,
            self._pacer,
            self.health,
            max_attempts=max_attempts,
            rng=rng or random.Random(),
            commit_linger_s=commit_linger_s,
            on_free=self._wake,
        )
        token = delivering.bot_token
        self._lock = SenderLock(delivering.engine, token.get_secret_value() if token else None)
        self._target = min(batch_size, max(10, math.ceil(rate * 2)))  # ~2 s of sending
        self._queue_cap = 4 * self._target
        self._lease = timedelta(seconds=lease_s)
        self._orphan_grace = timedelta(seconds=orphan_grace_s)
        self._sweep_s = sweep_interval_s
        self._standby_s = standby_interval_s
        self._horizon_s = park_horizon_s
        self._max_in_flight = max_in_flight
        self._monotonic = monotonic
        self._queue: list[Claim] = []
        self._in_flight: dict[int, tuple[Claim, asyncio.Task[None]]] = {}
        self._kick = asyncio.Event()
        self._want_claim = True
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def counters(self) -> DeliveryCounters:
        """Sent / retried / rate-limited / dead counts since this dispatcher was made."""
        return self._rows.counters

    @property
    def holds_lock(self) -> bool:
        """Whether this dispatcher is currently the sender for its bot token."""
        return self._lock.held

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Run in the background until `stop()`."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        """Finish the sends in flight, give queued rows back, release the lock."""
        self._stopping = True
        self._kick.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    async def run_until_idle(self, timeout: float) -> int:  # noqa: ASYNC109 - test helper
        """Send everything due now (and what that triggers); return how many were sent.

        Raises TimeoutError when still busy after `timeout` seconds.
        """
        before = self.counters.sent
        self._stopping = False
        async with asyncio.timeout(timeout):
            while not await self._lock.acquire():
                await self._sleep(0.05)
            try:
                await self._pump(until_idle=True)
                while self._want_claim:  # a probe closed a circuit: its backlog is due
                    await self._pump(until_idle=True)
            finally:
                await self._lock.release()
        return self.counters.sent - before

    async def _run(self) -> None:
        while not self._stopping:
            if not await self._try_lock():
                await self._sleep(self._standby_s)
                continue
            if self._delivering.bot_token is not None:
                log.info("outbox dispatcher is now the sender for its bot token")
            try:
                await self._recover_orphans()
                await self._pump(until_idle=False)
            except Exception:
                log.exception("outbox dispatcher loop failed; it starts again")
            finally:
                await self._lock.release()

    async def _try_lock(self) -> bool:
        try:
            return await self._lock.acquire()
        except Exception:
            log.exception("outbox sender lock could not be taken; standing by")
            return False

    async def _recover_orphans(self) -> None:
        """Rows an earlier sender left `sending` go out after a short grace, not a lease."""
        grace, delivering = self._orphan_grace, self._delivering
        try:
            async with delivering.sessions.begin() as session:
                count = await recover_orphans(session, now=delivering.clock.now(), grace=grace)
        except Exception:
            log.exception("outbox: earlier sender's rows not recovered; their leases expire")
            return
        if count:
            log.warning(
                "outbox: %d rows left sending by an earlier sender are due in %.0f s",
                count,
                grace.total_seconds(),
            )

    # -- the loop ----------------------------------------------------------------------
    async def _pump(self, *, until_idle: bool) -> None:
        forwarder = asyncio.create_task(self._forward_wakeups())
        self._want_claim = True
        next_sweep = self._monotonic() + self._sweep_s
        try:
            while not self._stopping:
                self._kick.clear()
                if self._delivering.outbox_wakeup.is_set():
                    self._delivering.outbox_wakeup.clear()
                    self._want_claim = True
                if self._monotonic() >= next_sweep:
                    next_sweep = self._monotonic() + self._sweep_s
                    self._want_claim = True
                    self._pacer.prune()
                    if not await self._lock.check():
                        return
                await self._watch_outages()
                if self._want_claim and self._needs_rows():
                    await self._claim()
                wait = await self._dispatch_ready()
                if until_idle and not (self._queue or self._in_flight or self._want_claim):
                    return
                probe = self.health.next_probe_in()
                await self._sleep(min(wait, probe, next_sweep - self._monotonic()))
        finally:
            forwarder.cancel()
            await self._drain()

    async def _forward_wakeups(self) -> None:
        event = self._delivering.outbox_wakeup
        while True:
            await event.wait()
            event.clear()
            self._want_claim = True
            self._kick.set()

    async def _sleep(self, seconds: float) -> None:
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.0)):
                await self._kick.wait()

    def _needs_rows(self) -> bool:
        """Claim more while few chats have rows queued, not while few rows are queued.

        Rows waiting behind an earlier row of their chat cannot go before it, so a
        queue full of them would starve the bot-wide rate while other chats wait in
        the table (head-of-line blocking at the claim).
        """
        if len(self._queue) >= self._queue_cap:
            return False
        heads = {claim.order_key or claim.id for claim in self._queue}
        return len(heads) <= self._target // 2

    async def _claim(self) -> None:
        limit = min(self._target, self._queue_cap - len(self._queue))
        # While Telegram is paused for long, claim only rows of the other channels.
        paused = self._pacer.global_wait() > self._horizon_s
        down_channels, down_recipients = self.health.blocked()
        self._want_claim = False  # a wakeup or a circuit closing meanwhile sets it again
        try:
            async with self._delivering.sessions.begin() as session:
                claims = await claim_due(
                    session,
                    now=self._delivering.clock.now(),
                    lease=self._lease,
                    limit=limit,
                    exclude_ids=[c.id for c in self._queue] + list(self._in_flight),
                    channels=("webhook", "sms") if paused else None,
                    skip_channels=down_channels,
                    skip_recipients=down_recipients,
                )
        except Exception:
            log.exception("outbox claim failed; the next sweep tries again")
            return
        self._want_claim = self._want_claim or len(claims) >= limit
        for claim in claims:
            hold = self._rows.holds.get(claim.order_key or "")
            if hold is not None and hold.after_id == claim.id:
                del self._rows.holds[claim.order_key or ""]
        self._queue.extend(claims)

    async def _dispatch_ready(self) -> float:
        """Launch every queued row that may go now; return seconds until the next may.

        Rows are looked at in id order; the first row of each order key is its head,
        and only heads may go. A head whose chat waits is skipped, so other chats go
        ahead; one that would wait beyond the horizon is given back (see module doc).
        """
        now, db_now = self._monotonic(), self._delivering.clock.now()
        holds = self._prune_holds(db_now)
        # Waiting for the bot-wide slot (the usual case): no Telegram row can go, and
        # the next pass with a free slot handles them; skip them cheaply.
        global_wait = self._pacer.global_wait(now)
        telegram_waits = 0 < global_wait <= self._horizon_s
        wait = global_wait if telegram_waits else math.inf
        busy = set(self._rows.sending)
        parked: dict[str, datetime] = {}
        to_release: list[tuple[Claim, datetime]] = []
        launched: list[Claim] = []
        for claim in self._queue:
            if telegram_waits and claim.chat is not None:
                continue
            key = claim.order_key
            hold = holds.get(key) if key else None
            if key is not None and (key in parked or (hold and claim.id > hold.after_id)):
                parked.setdefault(key, hold.until if hold else db_now)
                to_release.append((claim, parked[key]))
                continue
            if key is not None and key in busy:
                continue
            if len(self._in_flight) + len(launched) >= self._max_in_flight:
                break
            if not self._may_go(claim):  # its destination is down: due when it is back
                to_release.append((claim, db_now))
                continue
            if key is not None:
                busy.add(key)
            if claim.chat is not None:
                delay = self._pacer.wait_time(claim.chat, now)
                if delay > self._horizon_s:  # don't sit on a lease: give it back till then
                    parked[key or ""] = db_now + timedelta(seconds=delay)
                    to_release.append((claim, parked[key or ""]))
                    continue
                if delay > 0:
                    wait = min(wait, delay)
                    continue
                self._pacer.begin(claim.chat, now)  # RowDelivery calls `end`
            launched.append(claim)
        gone = {c.id for c in launched} | {c.id for c, _ in to_release}
        self._queue = [c for c in self._queue if c.id not in gone]
        for claim in launched:
            self._launch(claim)
        if to_release:
            await self._release(to_release)
        return wait

    def _may_go(self, claim: Claim) -> bool:
        """Whether the row's destination is up, or down with this row as its probe."""
        destination = destination_of(claim.channel, claim.recipient)
        if not self.health.is_open(destination):
            return True
        return destination != TELEGRAM and self.health.take_probe(destination, claim.id)

    # -- outages -----------------------------------------------------------------------
    async def _watch_outages(self) -> None:
        """Probe the Bot API when due; escalate each outage that lasts, once."""
        if self.health.is_open(TELEGRAM) and self.health.take_probe(TELEGRAM, GET_ME):
            self._in_background(self._probe_telegram())
        if self.health.row_probe_due():
            self._want_claim = True  # the next due row of that destination is its probe
        for circuit in list(self.health.lasting(self._escalate_after_s)):
            await self._escalate(circuit)

    async def _probe_telegram(self) -> None:
        try:
            await self._senders.telegram.probe()
        except ChannelDown as error:
            self.health.failed(TELEGRAM, GET_ME, str(error))
        else:
            self.health.reachable(TELEGRAM, GET_ME)
        finally:
            self._kick.set()

    async def _escalate(self, circuit: Circuit) -> None:
        down_s = circuit.down_for(self._monotonic())
        try:
            async with self._delivering.sessions.begin() as session:
                await self._hooks.channel_down(session, circuit.destination, down_s)
        except Exception:
            log.exception("outage of %s not escalated; tried again", circuit.destination)
            return
        self.health.escalated(circuit)

    def _destination_back(self, destination: str, down_s: float) -> None:
        """The backlog of a destination that answers again is claimed at once."""
        self._want_claim = True
        self._kick.set()
        if destination == TELEGRAM and self._on_telegram_back is not None:
            self._in_background(self._on_telegram_back())

    def _in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.create_task(_logged(work), name="outbox-outage")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _prune_holds(self, db_now: datetime) -> dict[str, Hold]:
        """Drop holds whose row never came back here (another replica took it)."""
        holds = self._rows.holds
        for stale in [k for k, hold in holds.items() if hold.until < db_now - self._lease]:
            del holds[stale]
        return holds

    def _wake(self) -> None:
        self._kick.set()

    def _launch(self, claim: Claim) -> None:
        if claim.order_key:
            self._rows.sending.add(claim.order_key)
        task = asyncio.create_task(self._rows.deliver(claim), name=f"outbox-{claim.id}")
        self._in_flight[claim.id] = (claim, task)
        task.add_done_callback(lambda done: self._landed(claim, done))

    def _landed(self, claim: Claim, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(claim.id, None)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error(
                "outbox %d: the outcome could not be recorded; retried when its lease ends",
                claim.id,
                exc_info=error,
                extra={"case_id": claim.case_id},
            )
        self._kick.set()

    async def _drain(self) -> None:
        """Wait for the sends in flight; give the queued rows back, due at once."""
        tasks = [task for _, task in self._in_flight.values()] + list(self._background)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        queued, self._queue = self._queue, []
        if queued:
            await self._release([(claim, self._delivering.clock.now()) for claim in queued])

    async def _release(self, pairs: Sequence[tuple[Claim, datetime]]) -> None:
        try:
            async with self._delivering.sessions.begin() as session:
                await release(session, pairs)
        except Exception:
            log.exception(
                "outbox: %d rows could not be given back; their leases expire", len(pairs)
            )


async def _logged(work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        log.exception("outbox: work about an outage failed")


def _telegram_channel(delivering: Delivering, bot: Bot | None) -> TelegramChannel:
    """aiogram's sender for a bot; without one, aiogram is not imported at all."""
    if bot is None:
        return NoBot()
    from bot.delivery.telegram_sender import TelegramSender

    return TelegramSender(delivering.sessions, delivering.cipher, bot)
