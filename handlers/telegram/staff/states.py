"""FSM state of a staff member who is typing a refusal reason."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class Refusal(StatesGroup):
    reason = State()
