"""CPU per document: the application, receipt and refusal PDF, Typst vs fpdf2 before it.

    python benchmarks/documents.py --documents 20 --rounds 3   # about 3 min

Each document is rendered the way the service renders it: `asyncio.to_thread` from a
running event loop (`bot/usecases/submission.py`, `decisions.py`). Its CPU is the
process's (`time.process_time()` around the render, in the worker thread: Typst also
works on threads of its own, and the loop is idle meanwhile) and its wall time
`time.perf_counter()`. The inputs are those of tests/unit/test_documents.py and
test_refusal_document.py with another case number, names and time for each document
(Typst keeps what it laid out before: one input again and again would flatter it),
`--documents` of each kind per round, the same cases on both sides. Baseline in the
same run: the fpdf2 layout the documents had before (tests/fpdf_layout.py, fpdf's own
font loading). Rounds alternate baseline and Typst, so noise hits both; medians over
all renders are reported. Then a burst: `--burst` documents of every kind at once, each
in its own `to_thread`, while a coroutine ticks every millisecond on the loop; the
largest delay of a tick is how long the loop (and so the sender, a task on it) waited.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.documents import render_application, render_receipt, render_refusal
from tests.pdf_pages import fpdf_reference
from tests.unit.test_documents import make_application, make_receipt
from tests.unit.test_refusal_document import make_refusal

GUARDIANS = ("Серікова Әйгерім Ғалымқызы", "Иванова Мария Петровна", "Өтебаев Ұлан Һадиұлы")
CHILDREN = ("Серіков Нұрлан Қайратұлы", "Иванов Пётр Сергеевич", "Өтебаева Іңкәр Ұланқызы")


def _variant(index: int) -> dict[str, object]:
    """What differs from one case to the next: number, names, time (Typst keeps what it
    laid out before, so a benchmark of one input again and again would flatter it)."""
    return {
        "case_number": f"HS-2025-{index:06d}",
        "guardian_full_name": GUARDIANS[index % 3],
        "child_full_name": CHILDREN[index % 3],
    }


def _application(language: str, index: int) -> bytes:
    created = make_application().created_at + timedelta(minutes=index)
    data = make_application(language=language, created_at=created, **_variant(index))
    return render_application(data)


def _receipt(language: str, index: int) -> bytes:
    issued = make_receipt().issued_at + timedelta(minutes=index)
    return render_receipt(make_receipt(language=language, issued_at=issued, **_variant(index)))


def _refusal(language: str, index: int) -> bytes:
    decided = make_refusal().decided_at + timedelta(minutes=index)
    return render_refusal(make_refusal(language, decided_at=decided, **_variant(index)))


KINDS: dict[str, Callable[[int], bytes]] = {
    "application kk": partial(_application, "kk"),
    "application ru": partial(_application, "ru"),
    "receipt kk": partial(_receipt, "kk"),
    "receipt ru": partial(_receipt, "ru"),
    "refusal ru": partial(_refusal, "ru"),
}
SIDES = ("fpdf", "typst")


def _timed(render: Callable[[int], bytes], index: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    render(index)
    return time.process_time() - cpu, time.perf_counter() - wall


async def _ticker(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - start - 0.001)


async def _one_by_one(documents: int, first: int) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    for kind, render in KINDS.items():
        for index in range(first, first + documents):
            times[kind].append(await asyncio.to_thread(_timed, render, index))
    return times


async def _burst(documents: int, first: int) -> float:
    """The loop's longest wait while `documents` of every kind render at once."""
    stop = asyncio.Event()
    lags: list[float] = []
    ticker = asyncio.create_task(_ticker(stop, lags))
    await asyncio.sleep(0.01)
    renders = [
        asyncio.to_thread(render, index)
        for render in KINDS.values()
        for index in range(first, first + documents)
    ]
    await asyncio.gather(*renders)
    stop.set()
    await ticker
    return max(lags, default=0.0)


def _side(side: str) -> AbstractContextManager[None]:
    return fpdf_reference() if side == "fpdf" else nullcontext()


def run(documents: int, rounds: int, burst: int) -> None:
    for side in SIDES:  # imports, fonts, the compiler: once per process
        with _side(side):
            for render in KINDS.values():
                render(0)
    results: dict[str, dict[str, list[tuple[float, float]]]] = {side: {} for side in SIDES}
    loop_lag = dict.fromkeys(SIDES, 0.0)
    for index in range(rounds):
        first = 1 + index * (documents + burst)
        for side in SIDES if index % 2 == 0 else SIDES[::-1]:
            with _side(side):
                times = asyncio.run(_one_by_one(documents, first))
                lag = asyncio.run(_burst(burst, first + documents))
            for kind, pairs in times.items():
                results[side].setdefault(kind, []).extend(pairs)
            loop_lag[side] = max(loop_lag[side], lag)
    print(
        f"{documents} documents x {rounds} rounds per kind; median CPU (p90) and median wall;"
        f" load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    for kind in KINDS:
        typst_cpu, typst_wall = zip(*results["typst"][kind], strict=True)
        fpdf_cpu, fpdf_wall = zip(*results["fpdf"][kind], strict=True)
        print(
            f"{kind:15} typst {_ms(statistics.median(typst_cpu))} (p90 {_ms(_p90(typst_cpu))})"
            f" wall {_ms(statistics.median(typst_wall))}"
            f" | fpdf {_ms(statistics.median(fpdf_cpu))} (p90 {_ms(_p90(fpdf_cpu))})"
            f" wall {_ms(statistics.median(fpdf_wall))}"
            f" | {statistics.median(typst_cpu) / statistics.median(fpdf_cpu):.3f}x CPU"
        )
    print(
        f"largest loop delay in a burst of {burst * len(KINDS)} documents at once:"
        f" typst {_ms(loop_lag['typst'])}, fpdf {_ms(loop_lag['fpdf'])}"
    )


def _p90(values: tuple[float, ...]) -> float:
    return sorted(values)[int(len(values) * 0.9)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burst", type=int, default=4)
    args = parser.parse_args()
    run(args.documents, args.rounds, args.burst)


if __name__ == "__main__":
    main()
