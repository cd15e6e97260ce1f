"""Intake throughput: signed VKK signals over loopback, full pipeline vs. a bare baseline.

    python benchmarks/intake.py [--signals 3000] [--concurrency 50] [--rounds 3]

Both servers run as separate processes on a fresh SQLite file, one at a time:
- baseline: an aiohttp handler that inserts the raw JSON into one SQLite table in one
  transaction (aiosqlite, WAL), nothing else;
- full: `python -m bot run` (signature, validation, encryption, guardian look-up, case +
  audit in one transaction).
Rounds alternate baseline/full so machine noise hits both; the ratio is of medians.
Besides throughput and latency, the server's own CPU per signal (user + system time of
its process from /proc during the measured load, divided by the signals): on a shared
machine throughput also measures the neighbours and the client, CPU per signal less so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.signing import signed_headers
from tests.factories import signal_payload

SECRET = b"bench-secret"
SIGNAL_PATH = "/api/v1/signals/vkk"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve_baseline(port: int, db_path: str) -> None:
    """The bare baseline server: raw JSON into one table, one transaction per request."""
    import aiosqlite
    from aiohttp import web

    db = await aiosqlite.connect(db_path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("CREATE TABLE IF NOT EXISTS signals (id INTEGER PRIMARY KEY, body TEXT)")

    lock = asyncio.Lock()  # one connection: transactions must not interleave

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        async with lock:
            await db.execute("BEGIN IMMEDIATE")
            await db.execute("INSERT INTO signals (body) VALUES (?)", (body,))
            await db.execute("COMMIT")
        return web.json_response({"ok": True}, status=202)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/api/v1/signals/vkk", handle)
    app.router.add_get("/healthz", health)
    await web._run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_server(kind: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    if kind == "baseline":
        cmd = [sys.executable, __file__, "--serve-baseline", str(port), str(workdir / "b.db")]
    else:
        cmd = [sys.executable, "-m", "bot", "run"]
        env.update(
            HTTP_PORT=str(port),
            SIGNAL_SECRETS=SECRET.decode(),
            DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'full.db'}",
            LOG_FORMAT="text",
        )
        env.pop("BOT_TOKEN", None)
    log = (workdir / "server.log").open("ab")
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=log)


async def wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not become healthy")


async def load(port: int, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Post every body once; return wall time and per-request latencies (s)."""
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    url = f"http://127.0.0.1:{port}{SIGNAL_PATH}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                headers = {
                    "Content-Type": "application/json",
                    **signed_headers(SECRET, "POST", SIGNAL_PATH, body, time.time()),
                }
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 202:
                        raise RuntimeError(f"unexpected {resp.status}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(kind: str, n: int, concurrency: int) -> dict[str, float]:
    bodies = [json.dumps(signal_payload()).encode() for _ in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_server(kind, port, Path(tmp))
        try:
            await wait_healthy(port)
            await load(port, bodies[: min(200, n)], concurrency)  # warm-up
            cpu = process_cpu(proc.pid)
            wall, lat = await load(port, bodies[min(200, n) :], concurrency)
            cpu = process_cpu(proc.pid) - cpu
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    lat.sort()
    return {
        "rate": len(lat) / wall,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[int(len(lat) * 0.99) - 1],
        "cpu_ms": 1000 * cpu / len(lat),
    }


async def main(args: argparse.Namespace) -> None:
    results: dict[str, list[dict[str, float]]] = {"baseline": [], "full": []}
    for round_no in range(args.rounds):
        for kind in ("baseline", "full"):
            result = await measure(kind, args.signals + 200, args.concurrency)
            results[kind].append(result)
            print(
                f"round {round_no + 1} {kind:8s} {result['rate']:7.0f} signals/s "
                f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                f"server CPU {result['cpu_ms']:.2f} ms/signal"
            )
    summary = {
        kind: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for kind, rs in results.items()
    }
    base, full = summary["baseline"], summary["full"]
    print(
        f"\nmedian of {args.rounds} rounds, {args.signals} signals, "
        f"{args.concurrency} concurrent clients, {os.cpu_count()} CPUs, load average "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    for kind, s in summary.items():
        print(
            f"  {kind:8s} {s['rate']:7.0f}/s  p50 {s['p50_ms']:.1f} ms  p99 {s['p99_ms']:.1f} ms"
            f"  server CPU {s['cpu_ms']:.2f} ms/signal"
        )
    print(f"  ratio full/baseline throughput: {full['rate'] / base['rate']:.2f}x (goal >= 0.8)")
    print(f"  full pipeline: {full['rate']:.0f} signals/s (goal >= 1000)")
    print(f"  server CPU per signal full/baseline: {full['cpu_ms'] / base['cpu_ms']:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-baseline":
        asyncio.run(serve_baseline(int(sys.argv[2]), sys.argv[3]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
