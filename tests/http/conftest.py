"""An HTTP client talking over loopback to the real application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.runtime import Services
from handlers.http.app import build_web_app


@pytest.fixture
async def api(services: Services) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(build_web_app(services), host="127.0.0.1")) as client:
        yield client
