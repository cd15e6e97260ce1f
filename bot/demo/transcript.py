"""The demo's output: one line per event as it happens, and a progress line while waiting.

Bot messages are read from the emulator (what Telegram would show), so the transcript
shows what people actually received, in the order the bot sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
import time
from collections.abc import AsyncIterator
from typing import TextIO

from bot.emulator import SentMessage, TelegramEmulator

MAX_WIDTH = 110
INDENT = " " * 9
PROGRESS_TICK_S = 0.1
CLEAR_LINE = "\r\033[K"


def shorten(text: str, width: int = MAX_WIDTH) -> str:
    """One line of at most `width` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def kilobytes(size: int) -> str:
    return f"{max(1, round(size / 1024))} KB"


def paragraphs(text: str) -> list[str]:
    """The lines of `text`, with at most one empty line between parts and none at the ends."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() or (lines and lines[-1]):
            lines.append(line.strip())
    while lines and not lines[-1]:
        lines.pop()
    return lines


def message_lines(message: SentMessage) -> list[str]:
    """What a person sees of a bot message, line by line: a file, the whole text, buttons."""
    lines: list[str] = []
    if message.document is not None:
        size = kilobytes(len(message.document))
        lines.append(f"📄 {message.document_filename or 'document'} ({size})")
    lines.extend(paragraphs(message.text or message.caption or ""))
    if buttons := message.buttons():
        lines.append("buttons: " + " ".join(f"[{b}]" for b in buttons))
    return lines or ["(empty message)"]


def wrapped(line: str, first: str, width: int = MAX_WIDTH) -> list[str]:
    """`line` after `first` (a time and label, or the indent), wrapped, nothing cut."""
    if not line:
        return [""]
    return textwrap.wrap(
        line, width, initial_indent=first, subsequent_indent=INDENT, break_on_hyphens=False
    )


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel a helper task and wait for it, without swallowing our own cancellation."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


class ProgressLine:
    """`⏳ waiting for the bot (guardian)… 1.4 s` on a terminal, redrawn in place."""

    def __init__(self, err: TextIO, *, enabled: bool) -> None:
        self._err = err
        self._enabled = enabled
        self._waits: dict[int, tuple[str, float]] = {}
        self._serial = 0
        self._ticker: asyncio.Task[None] | None = None
        self._shown = False
        self._last_event = time.monotonic()

    @contextlib.asynccontextmanager
    async def waiting(self, what: str) -> AsyncIterator[None]:
        """Show the line while the block runs; several waits share one line."""
        if not self._enabled:
            yield
            return
        self._serial += 1
        token = self._serial
        self._waits[token] = (what, time.monotonic())
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())
        try:
            yield
        finally:
            del self._waits[token]
            if not self._waits and self._ticker is not None:
                ticker, self._ticker = self._ticker, None
                await _stop(ticker)
                self.clear()

    def clear(self) -> None:
        """Erase the line before a transcript line; the wait counts anew from here."""
        self._last_event = time.monotonic()
        if self._shown:
            self._err.write(CLEAR_LINE)
            self._err.flush()
            self._shown = False

    async def _tick(self) -> None:
        while True:
            waits = sorted(self._waits.values(), key=lambda wait: -wait[1])
            whats = ", ".join(dict.fromkeys(what for what, _ in waits))
            since = max([self._last_event, *(start for _, start in waits)])
            waited = time.monotonic() - since
            self._err.write(f"{CLEAR_LINE}⏳ waiting for the bot ({whats})… {waited:.1f} s")
            self._err.flush()
            self._shown = True
            await asyncio.sleep(PROGRESS_TICK_S)


class Transcript:
    """Prints who said what; `following` mirrors the bot's messages as they arrive."""

    def __init__(self, out: TextIO, err: TextIO, *, progress: bool) -> None:
        self._out = out
        self.progress = ProgressLine(err, enabled=progress)
        self._started = time.monotonic()
        self._seen_edits: list[int] = []  # per bot message (by index): edits shown
        self._roles: dict[int, str] = {}

    @property
    def elapsed(self) -> float:
        """Seconds since the transcript started."""
        return time.monotonic() - self._started

    def name_chat(self, chat_id: int, role: str) -> None:
        """Label a chat in the transcript (`[bot -> <role>]`)."""
        self._roles[chat_id] = role

    def line(self, text: str) -> None:
        """Print a line of the story, clearing the progress line first."""
        self.progress.clear()
        print(text, file=self._out, flush=True)

    def event(self, who: str, what: str) -> None:
        """Print `[who] what` with the time since the start, wrapped under the label."""
        for line in wrapped(what, f"{self.elapsed:5.1f}s  [{who}] "):
            self.line(line)

    def catch_up(self, emu: TelegramEmulator) -> None:
        """Print every bot message (and edit) not shown yet, oldest first."""
        sent = emu.state.sent
        for index, message in enumerate(sent):
            if index == len(self._seen_edits):
                self._seen_edits.append(len(message.history))
                self._show(message, edited=False)
            elif len(message.history) > self._seen_edits[index]:
                self._seen_edits[index] = len(message.history)
                self._show(message, edited=True)

    @contextlib.asynccontextmanager
    async def following(self, emu: TelegramEmulator) -> AsyncIterator[None]:
        """Mirror the bot's messages as they arrive while the block runs."""
        follower = asyncio.create_task(self._follow(emu))
        try:
            yield
        finally:
            await _stop(follower)
            self.catch_up(emu)

    async def _follow(self, emu: TelegramEmulator) -> None:
        while True:
            self.catch_up(emu)
            await emu.wait_until(lambda: self._has_news(emu), timeout=3600.0, recheck=None)

    def _has_news(self, emu: TelegramEmulator) -> bool:
        sent = emu.state.sent
        if len(sent) > len(self._seen_edits):
            return True
        return any(len(m.history) > n for m, n in zip(sent, self._seen_edits, strict=False))

    def _show(self, message: SentMessage, *, edited: bool) -> None:
        role = self._roles.get(message.chat_id, f"chat {message.chat_id}")
        first, *rest = message_lines(message)
        mark = "(edited) " if edited else ""
        self.event(f"bot -> {role}", mark + first)
        for extra in rest:
            for line in wrapped(extra, INDENT):
                self.line(line)
