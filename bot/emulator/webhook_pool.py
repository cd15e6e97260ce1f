"""Webhook delivery over several connections at once, as Telegram does under load.

Telegram keeps up to `max_connections` (default 40) requests to a webhook open at the
same time, so a slow update (one that renders a PDF) does not hold up every other
chat, and a load balancer in front of several replicas really spreads the work. Two
updates of one chat are never in flight together: each chat's updates still arrive
in order, one after the other, as they do from Telegram.
"""

from __future__ import annotations

import asyncio

import aiohttp

from bot.emulator.entities import JsonDict
from bot.emulator.state import EmulatorState, WebhookConfig
from bot.emulator.webhook import Executor, WebhookWorker

ChatKey = tuple[str, int]


def chat_key(update: JsonDict) -> ChatKey:
    """The chat an update belongs to (the sender for updates outside any chat)."""
    payload: JsonDict = next(v for k, v in update.items() if k != "update_id")
    chat: JsonDict | None = payload.get("chat") or (payload.get("message") or {}).get("chat")
    if chat is not None:  # a message or post; a callback query's message
        return ("chat", int(chat["id"]))
    sender: JsonDict = payload.get("from") or payload.get("user") or {"id": update["update_id"]}
    return ("user", int(sender["id"]))


class PooledWebhookWorker(WebhookWorker):
    """Up to `connections` updates in flight (never more than the webhook's own
    `max_connections`), at most one per chat."""

    def __init__(
        self, state: EmulatorState, execute: Executor, retry_delay: float, connections: int
    ) -> None:
        super().__init__(state, execute, retry_delay)
        self._connections = connections
        self._busy: set[ChatKey] = set()  # chats with an update in flight or backing off
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Start deliveries while there is room, until the emulator closes."""
        try:
            while (job := await self._next_free()) is not None:
                update, hook = job
                key = chat_key(update)
                self._busy.add(key)
                task = asyncio.create_task(self._deliver_one(session, hook, update, key))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _next_free(self) -> tuple[JsonDict, WebhookConfig] | None:
        state = self._state
        found: list[JsonDict] = []

        def ready() -> bool:
            if state.closing:
                return True
            hook = state.webhook
            if hook is None or len(self._busy) >= min(self._connections, hook.max_connections):
                return False
            free = (u for u in state.updates.pending if chat_key(u) not in self._busy)
            found[:] = [update] if (update := next(free, None)) is not None else []
            return bool(found)

        async with state.changed:
            await state.changed.wait_for(ready)
        if state.closing or state.webhook is None:
            return None
        return found[0], state.webhook

    async def _deliver_one(
        self, session: aiohttp.ClientSession, hook: WebhookConfig, update: JsonDict, key: ChatKey
    ) -> None:
        """Deliver one update; after a failure its chat waits `retry_delay`, then the same
        update is the chat's next one again."""
        try:
            if await self._deliver(session, hook, update):
                self._state.updates.drop(update["update_id"])
            else:
                await asyncio.sleep(self._retry_delay)
        finally:
            self._busy.discard(key)
            await self._state.notify()
