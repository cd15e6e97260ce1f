"""Group commit for signals: concurrent requests share one transaction."""

from __future__ import annotations

import asyncio
import logging

from bot.runtime import Opening
from bot.signals import VkkSignal
from bot.usecases.intake import MAX_BATCH, IntakeResult, accept_signal, accept_signals

log = logging.getLogger(__name__)


class SignalIntake:
    """Queues signals from concurrent requests and stores them in group commits."""

    def __init__(self, opening: Opening) -> None:
        self._opening = opening
        self._queue: asyncio.Queue[tuple[VkkSignal, asyncio.Future[IntakeResult]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="signal-intake")

    async def stop(self) -> None:
        """Finish what is queued (those requests are waiting for an answer), then stop."""
        if self._writer is None:
            return
        await self._queue.join()
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None

    async def submit(self, signal: VkkSignal) -> IntakeResult:
        if self._writer is None:
            return await accept_signal(self._opening, signal)
        future: asyncio.Future[IntakeResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((signal, future))
        return await future

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[tuple[VkkSignal, asyncio.Future[IntakeResult]]]) -> None:
        try:
            results = await accept_signals(self._opening, [signal for signal, _ in batch])
        except Exception as exc:
            log.exception("storing a batch of %d signals failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
