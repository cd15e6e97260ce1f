"""Footprint of `run`: start-up time to /healthz and RSS, idle and with many cases.

    python benchmarks/footprint.py --cases 100000   # about 2-3 min, mostly the fill
    python benchmarks/footprint.py --cases 10000    # quick run

`python -m bot run` as a subprocess (its own temporary folder as working directory, so
no `.env` is read; SQLite file, a free HTTP_PORT, SIGNAL_SECRETS, DATA_KEY, no
BOT_TOKEN, so the HTTP API, outbox and scheduler run but no Telegram polling):
1. empty database: time from spawn to the first 200 from /healthz, VmRSS after 5 s idle;
2. stopped; the same database filled with `--cases` cases in-process through
   `bot.usecases.intake.accept_signals` (the intake code path, batches of 500,
   generated valid signals: distinct signal ids, child IINs and guardian phones);
3. started again: start-up time, VmRSS after 5 s idle, VmRSS after GET /metrics (which
   counts cases by status) and its answer time.
Baseline in the same run: a bare aiohttp hello-world server (`python -c ...`), its
start-up time to the first answer and its idle RSS. Goals: RSS <= 150 MB, start-up <= 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.assembly import open_services
from bot.settings import Settings
from bot.signals import VkkSignal
from bot.usecases.intake import accept_signals
from tests.factories import make_bin, make_iin, signal_payload

SECRET = "bench-secret"
BATCH = 500
IDLE_S = 5.0
HELLO = (
    "import asyncio, sys\n"
    "from aiohttp import web\n"
    "async def hello(request): return web.Response(text='ok')\n"
    "app = web.Application(); app.router.add_get('/healthz', hello)\n"
    "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None, access_log=None)\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return bytes(resp.read()) if resp.status == 200 else None
    except OSError:
        return None


def cpu_s(pid: int) -> float:
    """User + system CPU the process has used so far (less noisy than wall time here)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(
    cmd: list[str], port: int, env: dict[str, str], cwd: Path
) -> tuple[subprocess.Popen[bytes], float]:
    """Spawn and wait for /healthz; return the process and the seconds it took.

    Also prints the CPU seconds the process used until then.
    """
    began = time.monotonic()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    while get(f"http://127.0.0.1:{port}/healthz") is None:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{cmd} exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        time.sleep(0.02)
    took = time.monotonic() - began
    print(f"  {cmd[-1] if cmd[-1] == 'run' else 'bare'}: /healthz after {took:.2f} s, "
          f"{cpu_s(proc.pid):.2f} s CPU")  # fmt: skip
    return proc, took


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def app_env(folder: Path, port: int, data_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "REDIS_URL")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'footprint.db'}",
        HTTP_PORT=str(port),
        SIGNAL_SECRETS=SECRET,
        DATA_KEY=data_key,
        WEBHOOK_BASE_URL="",
    )
    return env


def make_signal(n: int) -> VkkSignal:
    """Signal `n` of the fill: unique ids, IINs and phones; 50 schools."""
    birth = date(2012, 1, 1) + timedelta(days=n // 9000)
    payload = signal_payload(
        signal_id=f"KZ-VKK-BENCH-{n:07d}",
        child={"iin": make_iin(birth, serial=n % 9000), "birth_date": birth.isoformat()},
        guardian={"iin": None, "phone": f"+7701{n:07d}"},
        school={"bin": make_bin(n % 50), "grade": 4},
    )
    return VkkSignal.model_validate(payload)


async def fill(folder: Path, data_key: str, cases: int) -> float:
    """Store `cases` signals through the intake service; return the seconds it took."""
    settings = Settings(
        _env_file=None,
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'footprint.db'}",
        DATA_KEY=data_key,
        SIGNAL_SECRETS=SECRET,
    )
    began = time.monotonic()
    async with open_services(settings) as svc:
        for first in range(0, cases, BATCH):
            batch = [make_signal(n) for n in range(first, min(cases, first + BATCH))]
            results = await accept_signals(svc.opening, batch)
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:
                raise RuntimeError(f"intake refused a generated signal: {failed[0]!r}")
    return time.monotonic() - began


def measure_idle(proc: subprocess.Popen[bytes]) -> float:
    time.sleep(IDLE_S)
    return rss_mb(proc.pid)


def versus(start_s: float, base_s: float, rss: float, base_rss: float) -> str:
    return (
        f"start-up {start_s:.2f} s = {start_s / base_s:.1f}x baseline; "
        f"idle RSS {rss:.1f} MB = {rss / base_rss:.1f}x baseline"
    )


def run(cases: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="footprint-bench-"))
    data_key = Fernet.generate_key().decode()
    app_cmd = [sys.executable, "-m", "bot", "run"]

    port = free_port()
    proc, base_start = start(
        [sys.executable, "-c", HELLO, str(port)], port, dict(os.environ), folder
    )
    base_rss = measure_idle(proc)
    stop(proc)

    port = free_port()
    proc, empty_start = start(app_cmd, port, app_env(folder, port, data_key), folder)
    empty_rss = measure_idle(proc)
    stop(proc)

    fill_s = asyncio.run(fill(folder, data_key, cases))

    port = free_port()
    proc, full_start = start(app_cmd, port, app_env(folder, port, data_key), folder)
    full_rss = measure_idle(proc)
    began = time.monotonic()
    metrics = get(f"http://127.0.0.1:{port}/metrics")
    metrics_s = time.monotonic() - began
    metrics_rss = rss_mb(proc.pid)
    stop(proc)
    assert metrics is not None, "/metrics did not answer 200"
    counted = [
        line
        for line in metrics.decode().splitlines()
        if "case" in line and not line.startswith("#")
    ]

    b = f"bare aiohttp hello-world: start-up {base_start:.2f} s, idle RSS {base_rss:.1f} MB"
    print(f"baseline           {b}")
    print(f"run, empty DB      {versus(empty_start, base_start, empty_rss, base_rss)}")
    rate = cases / fill_s
    print(f"fill               {cases} cases via accept_signals in {fill_s:.1f} s ({rate:.0f}/s)")
    print(f"run, {cases} cases {versus(full_start, base_start, full_rss, base_rss)}")
    print(f"after /metrics     RSS {metrics_rss:.1f} MB (answered in {metrics_s * 1000:.0f} ms)")
    for line in counted[:8]:
        print(f"  {line}")
    worst_rss, worst_start = max(empty_rss, full_rss, metrics_rss), max(empty_start, full_start)
    print(
        f"goal               RSS <= 150 MB ({worst_rss <= 150}), start-up <= 2 s "
        f"({worst_start <= 2.0}): {'met' if worst_rss <= 150 and worst_start <= 2.0 else 'not met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    run(parser.parse_args().cases)


if __name__ == "__main__":
    main()
