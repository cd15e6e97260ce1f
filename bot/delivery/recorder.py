"""Group commit of delivery outcomes: rows that finish close together share a transaction.

Each outcome (the row's new status plus the hook's effects) must commit atomically, but
nothing requires one transaction per row. Through SQLAlchemy's asyncio adapter a small
transaction costs several milliseconds of CPU, most of it fixed per transaction, so at
30 messages a second writing them one by one would cost more than sending them.
Outcomes that arrive within `linger_s` of each other are written together; if that
transaction fails (a hook raised, a constraint fired), the batch is rolled back and
each outcome is written alone, so one bad row never takes others' effects with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.claims import Claim, load_owned
from storage.models import OutboxMessage

log = logging.getLogger(__name__)
RowHook = Callable[[AsyncSession, OutboxMessage], Awaitable[None]]
RowChange = Callable[[OutboxMessage], None]


@dataclass(frozen=True)
class Outcome:
    """What to write for one claimed row: a change to the row and an optional hook."""

    claim: Claim
    change: RowChange
    hook: RowHook | None = None


Pending = tuple[Outcome, "asyncio.Future[bool]"]


class OutcomeRecorder:
    """Writes outcomes; `record` returns once its outcome is committed."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        linger_s: float = 0.1,
        max_batch: int = 50,
    ) -> None:
        self._sessions = sessions
        self._linger_s = linger_s
        self._max_batch = max_batch
        self._pending: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, outcome: Outcome) -> bool:
        """Commit the outcome; False when the row's lease was lost (nothing written)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="outbox-outcomes")
        return await future

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(self._linger_s)
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._write_batch(batch)
        finally:
            self._flusher = None
            stranded, self._pending = self._pending, []
            for _, future in stranded:  # cancelled mid-way: never leave a waiter hanging
                future.cancel()

    async def _write_batch(self, batch: list[Pending]) -> None:
        try:
            results = await self._write([outcome for outcome, _ in batch])
        except Exception as error:
            if len(batch) > 1:
                for item in batch:
                    await self._write_batch([item])
                return
            await self._write_alone(batch[0], error)
            return
        for (_, future), written in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(written)

    async def _write_alone(self, item: Pending, error: Exception) -> None:
        """The outcome failed on its own: without its hook if the hook was the problem.

        A failing hook must not make the message go out twice, so the row's new
        status is still written, with the failure noted in `last_error`.
        """
        outcome, future = item
        if outcome.hook is None:
            if not future.done():
                future.set_exception(error)
            return
        log.error(
            "outbox %d: delivery hook failed; outcome written without it",
            outcome.claim.id,
            exc_info=error,
            extra={"case_id": outcome.claim.case_id},
        )
        note = f"hook failed: {type(error).__name__}"

        def change_noted(row: OutboxMessage) -> None:
            outcome.change(row)
            row.last_error = note

        try:
            [written] = await self._write([Outcome(outcome.claim, change_noted)])
        except Exception as second:
            if not future.done():
                future.set_exception(second)
        else:
            if not future.done():
                future.set_result(written)

    async def _write(self, outcomes: list[Outcome]) -> list[bool]:
        async with self._sessions.begin() as session:
            rows = await load_owned(session, [o.claim for o in outcomes])
            written = []
            for outcome in outcomes:
                row = rows.get(outcome.claim.id)
                if row is None:
                    log.warning(
                        "outbox %d: lease lost before the outcome was written",
                        outcome.claim.id,
                        extra={"case_id": outcome.claim.case_id},
                    )
                    written.append(False)
                    continue
                outcome.change(row)
                if outcome.hook is not None:
                    await outcome.hook(session, row)
                written.append(True)
        return written
