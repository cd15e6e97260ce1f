"""CPU per document: the application and the receipt PDF, fonts parsed once vs every time.

    python benchmarks/documents.py --documents 30 --rounds 3   # about 1 min

Each document is rendered the way the service renders it: `asyncio.to_thread` from a
running event loop (`bot/usecases/submission.py`, `decisions.py`), its CPU read with
`time.thread_time()` in the worker thread. The same inputs as tests/unit/test_documents.py
(Kazakh and Russian application, receipt), each rendered `--documents` times per round.
Baseline in the same run: fpdf's own font loading (`FPDF.add_font` parses the three
Roboto files for every document, as before bot/documents/fonts.py). Rounds alternate
baseline and shared fonts, so noise hits both; medians over all renders are reported.
While documents render, a coroutine ticks every millisecond on the loop: the largest
delay of a tick is how long the loop waited for a render (the interpreter lock).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.documents import render_application, render_receipt
from tests.pdf_pages import fpdf_own_fonts
from tests.unit.test_documents import make_application, make_receipt

KINDS: dict[str, Callable[[], bytes]] = {
    "application kk": lambda: render_application(make_application(language="kk")),
    "application ru": lambda: render_application(make_application(language="ru")),
    "receipt ru": lambda: render_receipt(make_receipt(language="ru")),
}


def _timed(render: Callable[[], bytes]) -> float:
    start = time.thread_time()
    render()
    return time.thread_time() - start


async def _ticker(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - start - 0.001)


async def _measure(documents: int) -> tuple[dict[str, list[float]], float]:
    cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
    stop = asyncio.Event()
    lags: list[float] = []
    ticker = asyncio.create_task(_ticker(stop, lags))
    for kind, render in KINDS.items():
        for _ in range(documents):
            cpu[kind].append(await asyncio.to_thread(_timed, render))
    stop.set()
    await ticker
    return cpu, max(lags, default=0.0)


def run(documents: int, rounds: int) -> None:
    for render in KINDS.values():  # imports, and the shared fonts' one parse
        render()
    results: dict[str, dict[str, list[float]]] = {"baseline": {}, "shared": {}}
    loop_lag = {"baseline": 0.0, "shared": 0.0}
    for index in range(rounds):
        order = ["baseline", "shared"] if index % 2 == 0 else ["shared", "baseline"]
        for side in order:
            if side == "baseline":
                with fpdf_own_fonts():
                    cpu, lag = asyncio.run(_measure(documents))
            else:
                cpu, lag = asyncio.run(_measure(documents))
            for kind, times in cpu.items():
                results[side].setdefault(kind, []).extend(times)
            loop_lag[side] = max(loop_lag[side], lag)
    print(f"{documents} documents x {rounds} rounds per kind, CPU per document (median, p90)")
    for kind in KINDS:
        base = results["baseline"][kind]
        shared = results["shared"][kind]
        print(
            f"{kind:16} shared fonts {_ms(statistics.median(shared))} (p90 {_ms(_p90(shared))})"
            f"  baseline {_ms(statistics.median(base))} (p90 {_ms(_p90(base))})"
            f"  = {statistics.median(shared) / statistics.median(base):.2f}x"
        )
    print(
        f"largest loop delay while rendering: shared fonts {_ms(loop_lag['shared'])},"
        f" baseline {_ms(loop_lag['baseline'])}"
    )


def _p90(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.9)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.documents, args.rounds)


if __name__ == "__main__":
    main()
