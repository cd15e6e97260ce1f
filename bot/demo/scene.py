"""The stage the actors share: what they see of the bot, and how they wait for it.

Actors recognise a bot message by a fixed phrase of its catalog text (so the demo
follows the real texts in both languages) and react to what the bot asks, in whatever
order it asks; a message nobody expects, or an error toast, ends the demo.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from string import Formatter

from bot.demo.transcript import Transcript, shorten
from bot.emulator import Actor, SentMessage, TelegramEmulator
from bot.texts import Lang, Texts

Reaction = Callable[[SentMessage], Awaitable[None]] | None
_TAG = re.compile(r"<[^>]+>")


class DemoFailed(Exception):
    """The story did not go as scripted; the message is one line for the user."""


def catalog_marker(template: str) -> str:
    """The longest fixed line of a catalog text: what every rendering of it contains."""
    pieces = [literal for literal, *_ in Formatter().parse(template) if literal]
    lines = [html.unescape(_TAG.sub("", line)).strip() for p in pieces for line in p.splitlines()]
    return max(lines, key=len, default="")


def first_line(message: SentMessage) -> str:
    text = (message.text or message.caption or "").strip()
    return shorten(text.splitlines()[0] if text else f"({message.method})", 80)


@dataclass
class Scene:
    """The emulator, the transcript and the story's time limit."""

    emu: TelegramEmulator
    transcript: Transcript
    texts: Texts
    lang: Lang
    limit_s: float
    deadline: float = field(init=False)
    _cursors: dict[int, int] = field(default_factory=dict)
    _answers_seen: int = 0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.limit_s

    def say(self, key: str, /, **params: object) -> str:
        """A text of the catalog in the story's language (e.g. a button label)."""
        return self.texts(self.lang, key, **params)

    def act(self, who: str, what: str) -> None:
        """Print an actor's move after everything the bot said before it."""
        self.transcript.catch_up(self.emu)
        self.transcript.event(who, what)

    async def press(
        self, actor: Actor, who: str, label: str, message: SentMessage | None = None
    ) -> None:
        """Press the button `label` (on `message`, else on the latest bot message having it)."""
        self.act(who, f"presses «{label}»")
        try:
            await actor.press(label, message)
        except LookupError:
            raise DemoFailed(f"the {who} found no button «{label}»") from None

    async def converse(
        self,
        chat_id: int,
        who: str,
        reactions: Mapping[str, Reaction],
        until: Collection[str],
    ) -> tuple[str, SentMessage]:
        """React to the bot's messages in `chat_id` until one of the `until` texts arrives."""
        keys = [*until, *reactions]
        markers = {key: catalog_marker(self.texts.catalog(self.lang).messages[key]) for key in keys}
        while True:
            message = await self._next_message(chat_id, who)
            body = message.text or message.caption or ""
            key = next((k for k in keys if markers[k] and markers[k] in body), None)
            if key is None:
                raise DemoFailed(f"unexpected message to the {who}: «{first_line(message)}»")
            if key in until:
                return key, message
            reaction = reactions[key]
            if reaction is not None:
                await reaction(message)

    async def _next_message(self, chat_id: int, who: str) -> SentMessage:
        found: list[SentMessage] = []

        def arrived() -> bool:
            self._check_toasts()
            sent = self.emu.state.sent
            for index in range(self._cursors.get(chat_id, 0), len(sent)):
                if sent[index].chat_id == chat_id:
                    self._cursors[chat_id] = index + 1
                    found.append(sent[index])
                    return True
            self._cursors[chat_id] = len(sent)
            return False

        limit = self.deadline - time.monotonic()
        try:
            async with self.transcript.progress.waiting(who):
                await self.emu.wait_until(arrived, timeout=max(limit, 0.0), recheck=None)
        except TimeoutError:
            last = self.emu.last_sent(chat_id)
            seen = f"; last message: «{first_line(last)}»" if last else ""
            raise DemoFailed(
                f"no message to the {who} within the demo's {self.limit_s:.0f} s{seen}"
            ) from None
        return found[0]

    def _check_toasts(self) -> None:
        """A pressed button answered with text is a refusal (stale button, wrong person)."""
        answers = self.emu.callback_answers
        for answer in answers[self._answers_seen :]:
            if answer.text:
                raise DemoFailed(f"the bot answered a button press with «{shorten(answer.text)}»")
        self._answers_seen = len(answers)
