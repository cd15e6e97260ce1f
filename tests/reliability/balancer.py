"""A round-robin load balancer for the replicas' Telegram webhook, in the test's loop."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from bot.telegram import WEBHOOK_PATH

# What a proxy passes on; framing headers (length, encoding) are its own on each leg.
PASSED_ON = frozenset({"content-type", "x-telegram-bot-api-secret-token"})


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() in PASSED_ON}


class RoundRobin:
    """A load balancer in front of the replicas' webhooks: each update goes to the next
    replica in turn, and its answer goes back to Telegram as it came."""

    def __init__(self, targets: list[str]) -> None:
        self._turn = itertools.cycle(targets)
        self.forwarded: Counter[str] = Counter()
        self.url = ""

    async def _forward(self, request: web.Request) -> web.Response:
        target = next(self._turn)
        async with self._session.post(
            f"{target}{request.rel_url}", data=await request.read(), headers=_kept(request.headers)
        ) as answer:
            self.forwarded[target] += 1
            body = await answer.read()
            return web.Response(status=answer.status, body=body, headers=_kept(answer.headers))

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[RoundRobin]:
        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            async with aiohttp.ClientSession() as self._session:
                yield self
        finally:
            await runner.cleanup()
