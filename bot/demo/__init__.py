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
import sys
from pathlib import Path
from typing import TextIO

from bot.demo.runner import DemoOptions, Outcome, output_folder, perform
from bot.demo.scene import DemoFailed
from bot.demo.transcript import Transcript, kilobytes
from bot.domain.identifiers import case_number
from bot.domain.status import CaseStatus
from bot.logs import setup_logging
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


class _HeldLog(logging.Handler):
    """Keeps the app's warnings until the story is told, so none lands inside it."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _hold_log() -> _HeldLog:
    """The app's INFO lines would drown the transcript; its warnings wait for the end."""
    setup_logging("text", level=logging.WARNING)
    root = logging.getLogger()
    held = _HeldLog(root.handlers[0].formatter if root.handlers else None)
    root.handlers[:] = [held]
    return held


def _release_log(held: _HeldLog, err: TextIO) -> None:
    if held.lines:
        count = len(held.lines)
        lines = "1 line" if count == 1 else f"{count} lines"
        print(f"log of the app during the story ({lines}):", file=err)
        for line in held.lines:
            print(f"  {line}", file=err)


def run_demo(options: DemoOptions, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Play the story; 0 when the guardian got the school's answer, 1 otherwise."""
    out, err = out or sys.stdout, err or sys.stderr
    held = _hold_log()
    transcript = Transcript(out, err, progress=err.isatty())
    try:
        return _play(options, transcript, err)
    finally:
        _release_log(held, err)


def _play(options: DemoOptions, transcript: Transcript, err: TextIO) -> int:
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
    _report(transcript, outcome, folder, written)
    return 0


def _write_files(outcome: Outcome, folder: Path) -> list[Path]:
    """Save the PDFs the guardian received: the application and the receipt or refusal."""
    ending, number = outcome.ending, case_number(outcome.ending.case_id)
    files: list[tuple[str, bytes]] = []
    for message in (ending.application, ending.result):
        if message.document is not None:
            files.append((message.document_filename or f"document-{number}.pdf", message.document))
    paths = []
    for name, data in files:
        path = folder / Path(name).name
        path.write_bytes(data)
        paths.append(path)
    return paths


def _report(transcript: Transcript, outcome: Outcome, folder: Path, written: list[Path]) -> None:
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
            "(the final decision after the guardian's position was heard)"
        )
    transcript.line(f"files written to {folder}:")
    for path in written:
        transcript.line(f"  {path.name} ({kilobytes(path.stat().st_size)})")
    transcript.line(
        f"the story took {outcome.story_s:.1f} s (signal to result; start-up not counted), "
        "exit code 0"
    )
