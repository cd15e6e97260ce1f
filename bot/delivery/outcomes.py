"""Send one claimed row and write what happened, atomically with the hook's effects.

Outcomes: delivered -> `sent`; Telegram flood control -> `retry` after `retry_after`,
not counted as an attempt; the destination down (`ChannelDown`) -> `retry`, due as it
was and not counted, while its circuit is open (`bot.delivery.circuits`); a permanent
failure (blocked, chat not found) -> `dead`; any other answer about the message ->
`retry` with exponential backoff until `max_attempts`, then `dead` unless the hooks say
the message is still worth sending (`DeliveryHooks.still_needed`).
`last_error` and the log lines name what failed, never the message or its recipient.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.circuits import ChannelHealth, destination_of
from bot.delivery.claims import Claim, mark_dead, mark_retry, mark_sent
from bot.delivery.pacing import ChatId, TelegramPacer, backoff_delay, is_private
from bot.delivery.recorder import Outcome, OutcomeRecorder, RowChange, RowHook
from bot.delivery.senders import ChannelDown, PermanentFailure, Senders, Undeliverable
from bot.errors import DeliveryError
from bot.runtime import Delivering
from storage.crypto import UndecryptableData
from storage.models import OutboxMessage
from storage.outbox import decode_payload

log = logging.getLogger(__name__)


class DeliveryHooks(Protocol):
    """What delivery means for the case; called in the transaction that ends the row."""

    async def delivered(
        self, session: AsyncSession, row: OutboxMessage, message_id: int | None
    ) -> None: ...

    async def undeliverable(
        self, session: AsyncSession, row: OutboxMessage, reason: str
    ) -> None: ...

    async def still_needed(self, kind: str, case_id: str | None) -> bool:
        """Whether a message that used up its attempts is still worth more of them."""
        ...

    async def channel_down(self, session: AsyncSession, destination: str, down_s: float) -> None:
        """A destination has been unreachable for long: tell the people responsible."""
        ...


@dataclass
class DeliveryCounters:
    """Outcomes since start by channel, for metrics; 429s are counted apart from failures."""

    by_channel: Counter[tuple[str, str]] = field(default_factory=Counter)
    rate_limited: int = 0

    def count(self, channel: str, result: str) -> None:
        self.by_channel[(channel, result)] += 1

    def total(self, result: str) -> int:
        return sum(n for (_, counted), n in self.by_channel.items() if counted == result)

    @property
    def sent(self) -> int:
        return self.total("sent")

    @property
    def retried(self) -> int:
        return self.total("retried")

    @property
    def dead(self) -> int:
        return self.total("dead")


@dataclass(frozen=True)
class Hold:
    """Later rows of an order key wait until the failed row `after_id` is due again."""

    after_id: int
    until: datetime


class RowDelivery:
    """Delivers single rows for the dispatcher; keeps the holds its retries create."""

    def __init__(
        self,
        delivering: Delivering,
        hooks: DeliveryHooks,
        senders: Senders,
        pacer: TelegramPacer,
        health: ChannelHealth,
        *,
        max_attempts: int,
        rng: random.Random,
        commit_linger_s: float,
        on_free: Callable[[], None],
    ) -> None:
        self._cipher = delivering.cipher
        self._clock = delivering.clock
        self._hooks = hooks
        self._senders = senders
        self._pacer = pacer
        self._health = health
        self._max_attempts = max_attempts
        self._rng = rng
        self._recorder = OutcomeRecorder(delivering.sessions, linger_s=commit_linger_s)
        self._on_free = on_free
        self.counters = DeliveryCounters()
        self.holds: dict[str, Hold] = {}
        self.sending: set[str] = set()  # order keys with a send in progress

    def _free(self, claim: Claim) -> None:
        """The answer is in (and a retry's hold set): the key's next row may go.

        That need not wait for the outcome's commit; delivery order is kept because
        the answer came back before the next row leaves.
        """
        if claim.order_key in self.sending:
            self.sending.discard(claim.order_key)
            self._on_free()

    async def deliver(self, claim: Claim) -> None:
        """Send the row and record the outcome; raises only when the database fails.

        The dispatcher has put the row's order key in `sending` (and, for a Telegram
        row, called `pacer.begin`); both are released as soon as the
        answer is back, before the outcome is written.
        """
        health, destination = self._health, destination_of(claim.channel, claim.recipient)
        try:
            message_id = await self._send(claim)
        except ChannelDown as error:
            if health.failed(destination, claim.id, str(error)):
                await self._retry(claim, error)  # a suspect failing again: its own fault
            else:
                await self._wait_out(claim, error)
        except PermanentFailure as error:
            health.reachable(destination, claim.id)
            await self._give_up(claim, str(error), error.reason)
        except UndecryptableData:
            health.no_answer(destination, claim.id)
            await self._give_up(claim, "payload cannot be decrypted", Undeliverable.INVALID)
        except DeliveryError as error:
            health.reachable(destination, claim.id)
            await self._retry(claim, error)
        except Exception as error:  # a bug: logged with its traceback, retried, then dead
            health.no_answer(destination, claim.id)
            log.exception("outbox %d: unexpected send failure", claim.id, extra=_extra(claim))
            unexpected = DeliveryError(f"unexpected {type(error).__name__}", retryable=True)
            await self._retry(claim, unexpected)
        else:
            health.reachable(destination, claim.id)
            await self._record_sent(claim, message_id)
        finally:
            self._free(claim)

    async def _send(self, claim: Claim) -> int | None:
        try:
            data = json.loads(self._cipher.decrypt_text(claim.payload_enc))
            payload = decode_payload(claim.channel, data)
            return await self._senders.send(payload, claim.dedupe_key)
        finally:
            if claim.chat is not None:
                self._pacer.end(claim.chat)

    async def _record_sent(self, claim: Claim, message_id: int | None) -> None:
        now = self._clock.now()

        async def hook(session: AsyncSession, row: OutboxMessage) -> None:
            await self._hooks.delivered(session, row, message_id)

        self._free(claim)
        if await self._finish(claim, lambda row: mark_sent(row, now), hook):
            self.counters.count(claim.channel, "sent")
            log.info(
                "outbox %d delivered (%s, %s)",
                claim.id,
                claim.channel,
                claim.kind,
                extra=_extra(claim),
            )

    async def _retry(self, claim: Claim, error: DeliveryError) -> None:
        now, detail = self._clock.now(), str(error)
        rate_limited = error.retry_after is not None
        if rate_limited:
            delay = float(error.retry_after or 0)
            self._pause(claim.chat if claim.chat is not None else claim.recipient, delay)
        elif claim.attempts + 1 >= self._max_attempts and not await self._still_needed(claim):
            await self._give_up(claim, detail, Undeliverable.ATTEMPTS_EXHAUSTED)
            return
        else:
            delay = backoff_delay(claim.attempts, self._rng)

        def change(row: OutboxMessage) -> None:
            mark_retry(row, now, delay, detail, counts=not rate_limited)

        if claim.order_key:  # before the key is free: later rows must wait for this one
            self.holds[claim.order_key] = Hold(claim.id, now + timedelta(seconds=delay))
        self._free(claim)
        if not await self._finish(claim, change, None):
            return
        if rate_limited:
            self.counters.rate_limited += 1
        else:
            self.counters.count(claim.channel, "retried")
        log.warning(
            "outbox %d (%s) retries in %.1f s: %s",
            claim.id,
            claim.channel,
            delay,
            detail,
            extra=_extra(claim),
        )

    async def _still_needed(self, claim: Claim) -> bool:
        try:
            return await self._hooks.still_needed(claim.kind, claim.case_id)
        except Exception:  # the database is away: keep the message rather than lose it
            log.exception("outbox %d: cannot tell whether it is still needed", claim.id)
            return True

    async def _wait_out(self, claim: Claim, error: ChannelDown) -> None:
        """The destination is down: the row waits for it, due as it was, attempts kept."""
        now, detail = self._clock.now(), str(error)
        self._free(claim)
        await self._finish(claim, lambda row: mark_retry(row, now, 0.0, detail, counts=False), None)

    def _pause(self, chat: ChatId, seconds: float) -> None:
        """Honour a 429: the chat waits; so does everything when the chat was a person's.

        Telegram does not say which limit was hit. The pacer keeps each private chat
        at one message a second, so a 429 there means the bot-wide budget is spent
        (another process on the token, or a stricter limit): pause every send. A
        group's 429 is its own 20-a-minute limit and may last long; only it waits.
        """
        self._pacer.pause_chat(chat, seconds)
        if is_private(chat):
            self._pacer.pause_all(seconds)

    async def _give_up(self, claim: Claim, detail: str, reason: Undeliverable) -> None:
        async def hook(session: AsyncSession, row: OutboxMessage) -> None:
            await self._hooks.undeliverable(session, row, reason.value)

        self._free(claim)
        self._health.forget(claim.id)
        if await self._finish(claim, lambda row: mark_dead(row, detail), hook):
            self.counters.count(claim.channel, "dead")
            log.error(
                "outbox %d (%s, %s) is dead (%s): %s",
                claim.id,
                claim.channel,
                claim.kind,
                reason.value,
                detail,
                extra=_extra(claim),
            )

    async def _finish(self, claim: Claim, change: RowChange, hook: RowHook | None) -> bool:
        """Write the outcome and the hook's effects atomically; False if the lease was lost."""
        return await self._recorder.record(Outcome(claim, change, hook))


def _extra(claim: Claim) -> dict[str, str | None]:
    return {"case_id": claim.case_id}
