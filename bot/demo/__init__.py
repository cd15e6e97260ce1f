"""`homeschool-bot demo`: the whole story offline, on a fresh machine, in seconds.

The real application (same start-up as `run`) talks to the built-in Telegram Bot API
emulator and a temporary SQLite database; scripted actors play a health system, a
guardian and a school, and the transcript shows the conversation as it happens.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from bot.cases.status import CaseStatus
from bot.demo.runner import DemoOptions, Outcome, output_folder, perform
from bot.demo.scene import DemoFailed
from bot.demo.transcript import Transcript, kilobytes
from bot.logs import setup_logging
from bot.services.case_views import case_number
from bot.texts import Lang

__all__ = ["DemoFailed", "DemoOptions", "run_demo", "run_demo_command"]

_LANG_NAMES = {Lang.KK: "in Kazakh", Lang.RU: "in Russian"}


def run_demo_command(args: argparse.Namespace) -> int:
    """Run the demo from parsed command-line arguments.

    The ~2,500 modules just imported are kept for the life of this short process, so
    they move out of the cyclic collector's sight: full collections during the story
    and at interpreter exit then take milliseconds instead of seconds.
    """
    gc.freeze()
    return run_demo(DemoOptions(lang=Lang(args.lang), refuse=args.refuse, out=args.out))


def run_demo(options: DemoOptions, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Play the story; 0 when the guardian got the school's answer, 1 otherwise."""
    out, err = out or sys.stdout, err or sys.stderr
    started = time.monotonic()
    # The transcript is the output: the app's INFO lines would drown it. Warnings stay.
    setup_logging("text", level=logging.WARNING)
    transcript = Transcript(out, err, progress=err.isatty())
    for handler in logging.getLogger().handlers:
        handler.addFilter(transcript.progress.before_log)
    ending = "the school refuses" if options.refuse else "the school accepts"
    transcript.line(f"homeschool-bot demo: {_LANG_NAMES[options.lang]}, {ending}; offline")
    try:
        folder, how = output_folder(options.out)
        transcript.line(f"  output    {folder} ({how})")
        outcome = asyncio.run(perform(options, transcript))
        written = _write_files(outcome, folder)
    except DemoFailed as failure:
        transcript.line("")
        print(f"homeschool-bot demo: FAILED: {failure}", file=err)
        return 1
    except KeyboardInterrupt:
        print("homeschool-bot demo: interrupted", file=err)
        return 130
    _report(transcript, outcome, folder, written, time.monotonic() - started)
    return 0


def _process_age() -> float | None:
    """Seconds since this process started (Linux only), so start-up is not hidden."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except OSError:
        return None
    start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def _write_files(outcome: Outcome, folder: Path) -> list[Path]:
    """Save the PDFs the guardian received (and a refusal's text, which has none)."""
    ending, number = outcome.ending, case_number(outcome.ending.case_id)
    files: list[tuple[str, bytes]] = []
    for message in (ending.application, ending.result):
        if message.document is not None:
            files.append((message.document_filename or f"document-{number}.pdf", message.document))
    if ending.status is CaseStatus.REFUSED:
        files.append((f"refusal-{number}.txt", (ending.result.text or "").encode() + b"\n"))
    paths = []
    for name, data in files:
        path = folder / Path(name).name
        path.write_bytes(data)
        paths.append(path)
    return paths


def _report(
    transcript: Transcript, outcome: Outcome, folder: Path, written: list[Path], took: float
) -> None:
    number = case_number(outcome.ending.case_id)
    transcript.line("")
    if outcome.ending.status is CaseStatus.ACCEPTED:
        transcript.line(
            f"✅ the guardian received the receipt: case {number}, "
            f"registration number {outcome.registration_number}"
        )
    else:
        transcript.line(
            f"✅ the guardian received the school's reasoned refusal: case {number} "
            "(a refusal has no PDF: its text is saved beside the application)"
        )
    transcript.line(f"files written to {folder}:")
    for path in written:
        transcript.line(f"  {path.name} ({kilobytes(path.stat().st_size)})")
    age = _process_age()
    total = f" ({age:.1f} s with Python's start-up)" if age is not None else ""
    transcript.line(f"done in {took:.1f} s{total}, exit code 0")
