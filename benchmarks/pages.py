"""Page views of the school's inbox under load, against a bare aiohttp page in the same run.

    python benchmarks/pages.py [--views 2000] [--concurrency 20] [--cases 20] [--rounds 3]

Both servers run as separate processes, one at a time, rounds alternating:
- baseline: an aiohttp handler answering a fixed HTML page of the inbox's size;
- inbox: `python -m bot run` answering `GET /school/` for a signed-in staff member with
  `--cases` open cases: the session look-up, the account check, the cases' query, their
  decryption, the working time left of each, the Jinja2 template with both catalogs'
  texts, the CSRF token and the security headers.
The data are made before the server starts, through the use cases (registry import,
`schools staff add`, signals into cases), then the cases are put with the school as a
submission would leave them, and a session is opened the way the code page opens it;
the SMS sign-in itself is not part of a page view. The ratio is of the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.aiogram_import import import_aiogram_lazily

import_aiogram_lazily()

from cryptography.fernet import Fernet

from benchmarks.intake import free_port
from bot.assembly import open_services
from bot.settings import Settings
from bot.signals import VkkSignal
from bot.usecases.intake import accept_signals
from bot.usecases.registry import RegistryLine, import_school_registry
from bot.usecases.staff_accounts import SCHOOL_AUDIENCE, STAFF_SESSION, add_staff
from bot.usecases.web_identity import open_session
from handlers.web.school import SESSION_COOKIE
from storage.models import Case
from storage.repositories.web_accounts import get_staff_by_phone
from tests.factories import make_bin, signal_payload


async def prepare(workdir: Path, cases: int) -> tuple[dict[str, str], str]:
    """A database with a web-only school, its staff member and `cases` open cases;
    returns the server's environment and a session token."""
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'pages.db'}",
        "DATA_KEY": Fernet.generate_key().decode(),
        "SIGNAL_SECRETS": "bench-secret",
    }
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    bin_ = make_bin()
    async with open_services(settings) as svc:
        cells = {"bin": bin_, "name_kk": "№ 12 мектеп", "name_ru": "Школа № 12"}
        await import_school_registry(svc, [RegistryLine(number=2, cells=cells)])
        await add_staff(svc, bin_, "Гүлнар Ахметова", "+77015550000")
        signals = [
            VkkSignal.model_validate(signal_payload(school={"bin": bin_, "grade": 4}))
            for _ in range(cases)
        ]
        results = await accept_signals(svc.opening, signals)
        now = svc.clock.now()
        async with svc.sessions.begin() as session:
            for result in results:
                assert not isinstance(result, Exception), result
                case = await session.get(Case, result.case_id)
                assert case is not None
                case.status, case.submitted_at = "forwarded", now
                case.registered_at = svc.calendar.registration_time(now)
                case.deadline_at = svc.calendar.deadline(case.registered_at)
            account = await get_staff_by_phone(session, svc.cipher.blind_indexes("+77015550000"))
            assert account is not None
            token = open_session(session, svc, SCHOOL_AUDIENCE, STAFF_SESSION, staff_id=account.id)
    return env, token


START_TIMEOUT_S = 120.0


async def wait_healthy(port: int) -> None:
    """Until `/healthz` answers: a loaded machine starts `run` in far more than a second."""
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server did not become healthy within {START_TIMEOUT_S:.0f} s")


async def serve_baseline(port: int, size: int) -> None:
    """The bare baseline: one aiohttp handler, a fixed HTML body of the inbox's size."""
    from aiohttp import web

    body = "<!doctype html><html lang='ru'><title>x</title><p>" + "x" * size + "</p></html>"

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html")

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/school/", page)
    app.router.add_get("/healthz", health)
    await web._run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start(
    kind: str, port: int, workdir: Path, env: dict[str, str], size: int
) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    full_env.pop("BOT_TOKEN", None)
    if kind == "baseline":
        cmd = [sys.executable, __file__, "--serve-baseline", str(port), str(size)]
    else:
        cmd = [sys.executable, "-m", "bot", "run"]
        full_env.update(env, HTTP_PORT=str(port))
    log = (workdir / f"{kind}.log").open("ab")
    return subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=subprocess.DEVNULL, stderr=log)


async def load(
    port: int, token: str, views: int, concurrency: int
) -> tuple[float, list[float], int]:
    """GET the inbox `views` times; return wall time, latencies (s) and the body size."""
    latencies: list[float] = []
    sizes: list[int] = []
    remaining = list(range(views))
    headers = {"Cookie": f"{SESSION_COOKIE}={token}", "Accept-Language": "ru"}
    url = f"http://127.0.0.1:{port}/school/"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while remaining:
                remaining.pop()
                started = time.perf_counter()
                async with session.get(url, headers=headers, allow_redirects=False) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"unexpected {resp.status}")
                latencies.append(time.perf_counter() - started)
                sizes.append(len(body))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, max(sizes)


async def measure(
    kind: str, workdir: Path, env: dict[str, str], token: str, size: int, args: argparse.Namespace
) -> dict[str, float]:
    port = free_port()
    proc = start(kind, port, workdir, env, size)
    try:
        await wait_healthy(port)
        await load(port, token, min(200, args.views), args.concurrency)  # warm-up
        wall, lat, body = await load(port, token, args.views, args.concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lat.sort()
    return {
        "rate": len(lat) / wall,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[int(len(lat) * 0.99) - 1],
        "bytes": body,
    }


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env, token = await prepare(workdir, args.cases)
        size = 0  # the baseline's body: the inbox's, measured in the round before
        results: dict[str, list[dict[str, float]]] = {"inbox": [], "baseline": []}
        for round_no in range(args.rounds):
            for kind in ("inbox", "baseline"):
                result = await measure(kind, workdir, env, token, size, args)
                if kind == "inbox":
                    size = int(result["bytes"])
                results[kind].append(result)
                print(
                    f"round {round_no + 1} {kind:8s} {result['rate']:7.0f} views/s "
                    f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                    f"{int(result['bytes'])} bytes"
                )
    summary = {
        kind: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for kind, rs in results.items()
    }
    print(
        f"\nmedian of {args.rounds} rounds, {args.views} views, {args.concurrency} concurrent "
        f"clients, {args.cases} cases in the inbox, {os.cpu_count()} CPUs"
    )
    for kind, s in summary.items():
        print(f"  {kind:8s} {s['rate']:7.0f}/s  p50 {s['p50_ms']:.1f} ms  p99 {s['p99_ms']:.1f} ms")
    ratio = summary["inbox"]["rate"] / summary["baseline"]["rate"]
    print(f"  ratio inbox/baseline page views: {ratio:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-baseline":
        asyncio.run(serve_baseline(int(sys.argv[2]), int(sys.argv[3])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
