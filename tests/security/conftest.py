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


@pytest.fixture
async def service_stays_healthy(
    api: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
) -> AsyncIterator[None]:
    """After the attack the service still answers, and nothing was logged as a crash."""
    yield
    assert (await api.get("/healthz")).status == 200
    assert "Traceback" not in caplog.text
    assert "unhandled error" not in caplog.text
