"""Webhook delivery: POST each pending update to the bot, in order, retrying on failure.

Like Telegram, an update stays pending until the webhook answers 2xx, and the bot may
answer with a method call in the response body (aiogram does this when it handles
updates synchronously); that call is executed as if it came over the API.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.emulator.entities import JsonDict
from bot.emulator.params import Params, read_multipart
from bot.emulator.state import EmulatorState, WebhookConfig

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
Executor = Callable[[str, Params], Awaitable[Any]]


class WebhookWorker:
    """Background delivery loop; runs for the whole life of the emulator app."""

    def __init__(self, state: EmulatorState, execute: Executor, retry_delay: float) -> None:
        self._state = state
        self._execute = execute
        self._retry_delay = retry_delay

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Deliver updates until the emulator closes."""
        while (job := await self._next_job()) is not None:
            update, hook = job
            if await self._deliver(session, hook, update):
                self._state.updates.drop(update["update_id"])
                await self._state.notify()
            else:
                await asyncio.sleep(self._retry_delay)

    async def _next_job(self) -> tuple[JsonDict, WebhookConfig] | None:
        state = self._state

        def ready() -> bool:
            return state.closing or (state.webhook is not None and bool(state.updates.pending))

        async with state.changed:
            await state.changed.wait_for(ready)
        if state.closing or state.webhook is None:
            return None
        return state.updates.pending[0], state.webhook

    async def _deliver(
        self, session: aiohttp.ClientSession, hook: WebhookConfig, update: JsonDict
    ) -> bool:
        headers = {SECRET_HEADER: hook.secret_token} if hook.secret_token else {}
        try:
            async with session.post(hook.url, json=update, headers=headers) as response:
                if not 200 <= response.status < 300:
                    status = f"{response.status} {response.reason}"
                    self._fail(hook, f"Wrong response from the webhook: {status}")
                    return False
                reply = await _read_reply(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            self._fail(hook, f"Connection failed: {type(error).__name__}")
            return False
        if reply is not None:
            method = str(reply.values.pop("method"))
            await self._execute(method, reply)
        return True

    def _fail(self, hook: WebhookConfig, message: str) -> None:
        hook.last_error_date = self._state.now()
        hook.last_error_message = message
        log.info("webhook delivery failed: %s", message)


async def _read_reply(response: aiohttp.ClientResponse) -> Params | None:
    """Return a method call sent back in the webhook response body, if any."""
    if response.content_type.startswith("multipart/"):
        params = await read_multipart(aiohttp.MultipartReader.from_response(response))
    elif response.content_type == "application/json":
        try:
            body = json.loads(await response.text())
        except ValueError:
            return None
        params = Params(body if isinstance(body, dict) else {}, {})
    else:
        return None
    return params if params.get_str("method") else None
