"""An HTTP client over loopback to the real application factory (as in tests/http)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.runtime import Services
from handlers.http.app import build_web_app


@pytest.fixture
async def api(services: Services) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(build_web_app(services), host="127.0.0.1")) as client:
        yield client
