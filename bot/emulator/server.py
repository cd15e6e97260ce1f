"""aiohttp application serving `/bot{token}/{method}` and `/file/bot{token}/{path}`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import aiohttp
from aiohttp import web

from bot.emulator import methods_bot, methods_chats, methods_messages
from bot.emulator.entities import JsonDict
from bot.emulator.errors import ApiError, method_not_found, unauthorized
from bot.emulator.limits import MAX_UPLOAD_BYTES
from bot.emulator.params import Params, read_request
from bot.emulator.records import ApiCall
from bot.emulator.state import EmulatorState, MethodHandler
from bot.emulator.webhook import WebhookWorker
from bot.emulator.webhook_pool import PooledWebhookWorker

log = logging.getLogger(__name__)

ALL_METHODS: Final[Mapping[str, MethodHandler]] = {
    **methods_bot.METHODS,
    **methods_chats.METHODS,
    **methods_messages.METHODS,
}
_BY_LOWER_NAME: Final = {name.lower(): name for name in ALL_METHODS}


class ApiServer:
    """Routes HTTP requests to emulated methods and records every call."""

    def __init__(
        self,
        state: EmulatorState,
        token: str,
        *,
        webhook_retry_delay: float,
        webhook_connections: int = 1,
    ) -> None:
        self.state = state
        self.token = token
        self._worker = (
            WebhookWorker(state, self.execute, webhook_retry_delay)
            if webhook_connections == 1
            else PooledWebhookWorker(state, self.execute, webhook_retry_delay, webhook_connections)
        )
        self.app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self.app.on_shutdown.append(self._on_shutdown)
        self.app.cleanup_ctx.append(self._webhook_ctx)

    async def execute(self, method: str, params: Params) -> tuple[int, JsonDict]:
        """Run one API method and return (HTTP status, Telegram-shaped body)."""
        name = _BY_LOWER_NAME.get(method.lower())
        if name is None:
            return self._answer(method, params, error=method_not_found())
        try:
            fault = self.state.faults.take(name, params.values.get("chat_id"))
            if fault is not None:
                raise fault
            result = await ALL_METHODS[name](self.state, params)
        except ApiError as error:
            return self._answer(name, params, error=error)
        return self._answer(name, params, result=result)

    def _answer(
        self,
        method: str,
        params: Params,
        *,
        result: Any = None,
        error: ApiError | None = None,
    ) -> tuple[int, JsonDict]:
        call = ApiCall(
            method=method,
            params=params.loggable(),
            ok=error is None,
            at=self.state.clock(),
            result=result,
            error_code=error.error_code if error else None,
            description=error.description if error else None,
        )
        self.state.calls.append(call)
        if error is not None:
            log.debug("emulated %s failed: %s", method, error.description)
            return error.error_code, error.to_json()
        return 200, {"ok": True, "result": result}

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(unauthorized().to_json(), status=401)
        method = request.match_info["method"]
        try:
            params = await read_request(request)
        except ApiError as error:
            return web.json_response(error.to_json(), status=error.error_code)
        status, body = await self.execute(method, params)
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self.state.files.by_path(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            body = {"ok": False, "error_code": 404, "description": "Not Found"}
            return web.json_response(body, status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type)

    async def _on_shutdown(self, app: web.Application) -> None:
        self.state.closing = True
        await self.state.notify()

    async def _webhook_ctx(self, app: web.Application) -> AsyncIterator[None]:
        self.state.closing = False
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            task = asyncio.create_task(self._worker.run(session), name="emulator-webhook")
            yield
            self.state.closing = True
            await self.state.notify()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
