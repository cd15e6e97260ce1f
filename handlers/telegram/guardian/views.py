"""How the guardian's prompts reach Telegram: HTML text, and choices in their words.

The use cases say what to ask and which choices to offer (`bot.usecases.prompts`);
this renders the texts in the guardian's language and queues the message. Its choices
become buttons when the row is sent (`handlers.telegram.views`, the one renderer).
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain.choices import Choice, Choices
from bot.texts import Texts
from bot.usecases.access import Actor
from bot.usecases.messages import REMOVE_KEYBOARD, document_message, text_message
from bot.usecases.prompts import Prompt, render, render_parts
from storage.crypto import DataCipher
from storage.outbox import Kind, OutgoingMessage, enqueue


class TelegramPresenter:
    """Queues a prompt as the reply to the update that caused it (see `Present`).

    The dedupe key is the update's origin and the prompt's purpose: a redelivered
    update queues nothing twice.
    """

    def __init__(self, texts: Texts, cipher: DataCipher, clock: Clock) -> None:
        self._texts, self._cipher, self._clock = texts, cipher, clock

    async def __call__(self, session: AsyncSession, actor: Actor, prompt: Prompt) -> None:
        await enqueue(session, self._cipher, self._clock.now(), self.message(actor, prompt))

    def message(self, actor: Actor, prompt: Prompt) -> OutgoingMessage:
        text = render_parts(self._texts, prompt)
        key = f"{actor.origin}:{prompt.purpose}"
        choices = self.choices(prompt)
        if prompt.attachment is not None:
            attachment = prompt.attachment
            return document_message(
                key, Kind.REPLY, actor.chat_id, attachment.document_id, attachment.filename,
                text, case_id=prompt.case_id, choices=choices,
            )  # fmt: skip
        # A message without choices takes away a phone keyboard that may linger, so
        # the guardian's letter keyboard shows again.
        return text_message(
            key, Kind.REPLY, actor.chat_id, text,
            case_id=prompt.case_id, choices=choices, reply_markup=REMOVE_KEYBOARD,
        )  # fmt: skip

    def choices(self, prompt: Prompt) -> Choices:
        """The prompt's choices in the guardian's words, each on the prompt's case."""
        return tuple(tuple(self._worded(prompt, c) for c in row) for row in prompt.choices)

    def _worded(self, prompt: Prompt, choice: Choice) -> Choice:
        label = choice.label
        if not isinstance(label, str):
            label = render(self._texts, prompt.lang, label)
        return replace(choice, label=label, case_id=choice.case_id or prompt.case_id)
