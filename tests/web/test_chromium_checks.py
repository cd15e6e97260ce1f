"""The browser tests' own checks find what they look for: axe-core in Chromium reports a
page's serious faults, and a clean page passes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.web.chromium import Chromium, require_chromium

FAULTY = """<!doctype html><html><head><title>x</title></head><body><main>
<img src="/x.png"><button></button><input type="text"></main></body></html>"""
CLEAN = """<!doctype html><html lang="ru"><head><title>Проверка</title></head><body>
<main><h1>Проверка</h1><label for="a">Имя</label><input id="a" type="text"></main></body></html>"""


@pytest.fixture
async def served() -> AsyncIterator[str]:
    """Two pages on loopback: one with faults axe calls serious or critical, one without."""

    async def page(request: web.Request) -> web.Response:
        text = FAULTY if request.path == "/faulty" else CLEAN
        return web.Response(text=text, content_type="text/html")

    app = web.Application()
    app.router.add_get("/faulty", page)
    app.router.add_get("/clean", page)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_chromium_axe_reports_serious_faults_and_passes_a_clean_page(
    served: str, tmp_path: Path
) -> None:
    require_chromium()
    browser = Chromium(served, tmp_path)
    await asyncio.to_thread(browser.start)
    try:
        await asyncio.to_thread(browser.open, "/faulty")
        faulty = await asyncio.to_thread(browser.check, "faulty")
        await asyncio.to_thread(browser.open, "/clean")
        clean = await asyncio.to_thread(browser.check, "clean")
    finally:
        await asyncio.to_thread(browser.quit)
    saved = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir()))
    rules = {problem.split(" ", 1)[0] for problem in faulty}
    assert {"image-alt", "button-name", "label", "html-has-lang"} <= rules
    assert clean == []
    assert saved == [
        "clean-1280x800.png",
        "clean-360x800.png",
        "faulty-1280x800.png",
        "faulty-360x800.png",
    ]
