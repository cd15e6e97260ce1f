"""How neutral choices look in Telegram: inline buttons and their callback data.

Use cases offer `storage.outbox.Choice`s (a label, an act, a case); this is the one place
that turns an act into the callback data handlers receive back. The data are those of
the buttons already in people's chats, so no old button goes stale.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.telegram.callbacks import CaseAction, CaseCb, DecisionAction, DecisionCb
from storage.outbox import Act, Choice, Choices

_CASE_ACTIONS = {
    Act.AGREE: CaseAction.AGREE,
    Act.DECLINE: CaseAction.DECLINE,
    Act.NO_OBJECTIONS: CaseAction.NO_OBJECTIONS,
}
_DECISION_ACTIONS = {Act.ACCEPT: DecisionAction.ACCEPT, Act.REFUSE: DecisionAction.REFUSE}


def callback_data(choice: Choice) -> CallbackData:
    """The callback data of a choice's button (at most 64 bytes, see `callbacks`)."""
    if choice.act in _CASE_ACTIONS:
        return CaseCb(case_id=choice.case_id, action=_CASE_ACTIONS[choice.act])
    if choice.act in _DECISION_ACTIONS:
        return DecisionCb(case_id=choice.case_id, action=_DECISION_ACTIONS[choice.act])
    if choice.act is Act.GROUND and choice.value is not None:
        return DecisionCb(
            case_id=choice.case_id, action=DecisionAction.GROUND, ground=int(choice.value)
        )
    raise ValueError(f"no button for {choice.act}")


def inline_markup(choices: Choices) -> InlineKeyboardMarkup:
    """The choices as an inline keyboard, row by row."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=c.label, callback_data=callback_data(c).pack()) for c in row]
            for row in choices
        ]
    )
