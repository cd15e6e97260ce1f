"""How neutral choices look in Telegram: buttons and their callback data.

Use cases offer `bot.domain.choices.Choice`s; this is the one place that turns a choice
into a button, when the outbox's Telegram sender sends the row, and back into what the
handlers receive. The callback data are those of the buttons already in people's chats,
so no old button goes stale.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.domain.choices import Act, Choice, Choices, Step
from handlers.telegram.callbacks import (
    CaseAction,
    CaseCb,
    DecisionAction,
    DecisionCb,
    GradeCb,
    LangCb,
    SchoolCb,
)

EDITS: dict[CaseAction, Step] = {
    CaseAction.EDIT_SCHOOL: Step.SCHOOL,
    CaseAction.EDIT_GRADE: Step.GRADE,
    CaseAction.EDIT_ADDRESS: Step.ADDRESS,
    CaseAction.EDIT_NOTE: Step.NOTE,
}
"""The summary's edit buttons and the question each asks again."""
_EDIT_ACTIONS = {step: action for action, step in EDITS.items()}
_CASE_ACTIONS = {
    Act.AGREE: CaseAction.AGREE,
    Act.DECLINE: CaseAction.DECLINE,
    Act.AGAIN: CaseAction.AGAIN,
    Act.WITHDRAW: CaseAction.WITHDRAW,
    Act.CONFIRM: CaseAction.CONFIRM,
    Act.NO_OBJECTIONS: CaseAction.NO_OBJECTIONS,
}
_DECISION_ACTIONS = {Act.ACCEPT: DecisionAction.ACCEPT, Act.REFUSE: DecisionAction.REFUSE}


def callback_data(choice: Choice) -> CallbackData:
    """The callback data of a choice's button (at most 64 bytes, see `callbacks`)."""
    if choice.act is Act.LANGUAGE and choice.value is not None:
        return LangCb(code=choice.value)
    case_id = choice.case_id
    if case_id is None:
        raise ValueError(f"a {choice.act} choice needs a case")
    if choice.act in _CASE_ACTIONS:
        return CaseCb(case_id=case_id, action=_CASE_ACTIONS[choice.act])
    if choice.act in _DECISION_ACTIONS:
        return DecisionCb(case_id=case_id, action=_DECISION_ACTIONS[choice.act])
    if choice.act is Act.GROUND and choice.value is not None:
        return DecisionCb(case_id=case_id, action=DecisionAction.GROUND, ground=int(choice.value))
    if choice.act is Act.ANSWER and choice.step is Step.GRADE and choice.value:
        return GradeCb(case_id=case_id, grade=int(choice.value))
    if choice.act is Act.ANSWER and choice.step is Step.SCHOOL and choice.value:
        return SchoolCb(case_id=case_id, school_id=int(choice.value))
    if choice.act is Act.SKIP and choice.step is Step.NOTE:
        return CaseCb(case_id=case_id, action=CaseAction.SKIP_NOTE)
    if choice.act is Act.EDIT and choice.step in _EDIT_ACTIONS:
        return CaseCb(case_id=case_id, action=_EDIT_ACTIONS[choice.step])
    raise ValueError(f"no button for {choice}")


def reply_markup(choices: Choices) -> InlineKeyboardMarkup | ReplyKeyboardMarkup:
    """The choices as an inline keyboard, row by row.

    A message that asks for the phone carries Telegram's contact button, which lives on
    the reply keyboard; a message carries one keyboard, so its other choices (the
    languages, whose tap sends their label: `welcome.language_of_button`) go there too.
    """
    if any(c.act is Act.SHARE_PHONE for row in choices for c in row):
        return ReplyKeyboardMarkup(
            keyboard=[[_key(c) for c in row] for row in choices],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=_label(c), callback_data=callback_data(c).pack())
                for c in row
            ]
            for row in choices
        ]
    )


def _key(choice: Choice) -> KeyboardButton:
    if choice.act is Act.SHARE_PHONE:
        return KeyboardButton(text=_label(choice), request_contact=True)
    if choice.act is Act.LANGUAGE:
        return KeyboardButton(text=_label(choice))
    raise ValueError(f"no reply keyboard button for {choice}")


def _label(choice: Choice) -> str:
    if not isinstance(choice.label, str):
        raise ValueError(f"the {choice.act} choice was queued without its words")
    return choice.label
