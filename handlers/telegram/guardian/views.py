"""How the guardian's prompts look in Telegram: HTML text, keyboards, callback data.

The use cases say what to ask and which choices to offer (`bot.usecases.prompts`);
this is the one place that turns a choice into a button and back. The callback data
are those of the buttons already in people's chats, so no old button goes stale.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters.callback_data import CallbackData
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.texts import Texts
from bot.usecases.access import Actor
from bot.usecases.messages import REMOVE_KEYBOARD, Button, document_message, text_message
from bot.usecases.prompts import Act, Choice, Prompt, Step, render, render_parts
from handlers.telegram.callbacks import CaseAction, CaseCb, GradeCb, LangCb, SchoolCb
from storage.crypto import DataCipher
from storage.outbox import Kind, OutgoingMessage, enqueue

EDITS: dict[CaseAction, Step] = {
    CaseAction.EDIT_SCHOOL: Step.SCHOOL,
    CaseAction.EDIT_GRADE: Step.GRADE,
    CaseAction.EDIT_ADDRESS: Step.ADDRESS,
    CaseAction.EDIT_NOTE: Step.NOTE,
}
"""The summary's edit buttons and the question each asks again."""
_EDIT_ACTIONS = {step: action for action, step in EDITS.items()}
_CASE_ACTIONS = {
    Act.CONFIRM: CaseAction.CONFIRM,
    Act.AGREE: CaseAction.AGREE,
    Act.DECLINE: CaseAction.DECLINE,
    Act.AGAIN: CaseAction.AGAIN,
    Act.NO_OBJECTIONS: CaseAction.NO_OBJECTIONS,
    Act.WITHDRAW: CaseAction.WITHDRAW,
}
"""Choices that act on the case as a whole, and their buttons."""


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
        buttons = self.buttons(prompt)
        if prompt.attachment is not None:
            attachment = prompt.attachment
            return document_message(
                key, Kind.REPLY, actor.chat_id, attachment.document_id, attachment.filename,
                text, case_id=prompt.case_id, buttons=buttons,
            )  # fmt: skip
        return text_message(
            key, Kind.REPLY, actor.chat_id, text,
            case_id=prompt.case_id, buttons=buttons, reply_markup=self.keyboard(prompt),
        )  # fmt: skip

    def buttons(self, prompt: Prompt) -> list[list[Button]]:
        """The prompt's choices as inline buttons, row by row; none when it asks for the
        phone: a message carries one keyboard, and the phone button is a keyboard button."""
        if _asks_phone(prompt):
            return []
        return [
            [(self.label(prompt, c), callback_data(prompt.case_id, c)) for c in row]
            for row in prompt.choices
        ]

    def keyboard(self, prompt: Prompt) -> dict[str, Any]:
        """The reply keyboard: the phone button (and the prompt's other choices, the
        languages, whose tap sends their label) when the prompt asks for the phone, else none.

        A message without it takes away a phone keyboard that may linger, so the
        guardian's letter keyboard shows again.
        """
        if not _asks_phone(prompt):
            return REMOVE_KEYBOARD
        keyboard = [[self._key(prompt, choice) for choice in row] for row in prompt.choices]
        return {"keyboard": keyboard, "resize_keyboard": True, "one_time_keyboard": True}

    def _key(self, prompt: Prompt, choice: Choice) -> dict[str, Any]:
        if choice.act is Act.SHARE_PHONE:
            return {"text": self.label(prompt, choice), "request_contact": True}
        if choice.act is not Act.LANGUAGE:
            raise ValueError(f"no keyboard button for {choice}")
        return {"text": self.label(prompt, choice)}

    def label(self, prompt: Prompt, choice: Choice) -> str:
        if isinstance(choice.label, str):
            return choice.label
        return render(self._texts, prompt.lang, choice.label)


def _asks_phone(prompt: Prompt) -> bool:
    return any(choice.act is Act.SHARE_PHONE for row in prompt.choices for choice in row)


def callback_data(case_id: str | None, choice: Choice) -> CallbackData:
    """The callback data of a choice's button (at most 64 bytes, see `callbacks`)."""
    if choice.act is Act.LANGUAGE and choice.value is not None:
        return LangCb(code=choice.value)
    if case_id is None:
        raise ValueError(f"a {choice.act} choice needs a case")
    if choice.act is Act.ANSWER and choice.step is Step.GRADE and choice.value:
        return GradeCb(case_id=case_id, grade=int(choice.value))
    if choice.act is Act.ANSWER and choice.step is Step.SCHOOL and choice.value:
        return SchoolCb(case_id=case_id, school_id=int(choice.value))
    if choice.act is Act.SKIP and choice.step is Step.NOTE:
        return CaseCb(case_id=case_id, action=CaseAction.SKIP_NOTE)
    if choice.act is Act.EDIT and choice.step in _EDIT_ACTIONS:
        return CaseCb(case_id=case_id, action=_EDIT_ACTIONS[choice.step])
    if choice.act in _CASE_ACTIONS:
        return CaseCb(case_id=case_id, action=_CASE_ACTIONS[choice.act])
    raise ValueError(f"no button for {choice}")
