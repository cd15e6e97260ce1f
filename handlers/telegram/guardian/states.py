"""FSM states of the guardian's conversation (kept in SQL or Redis, so restarts lose nothing)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from bot.usecases.application import Step


class Identity(StatesGroup):
    language = State()
    contact = State()


class Form(StatesGroup):
    school = State()
    grade = State()
    address = State()
    note = State()
    summary = State()


STEP_STATES: dict[Step, State] = {
    Step.SCHOOL: Form.school,
    Step.GRADE: Form.grade,
    Step.ADDRESS: Form.address,
    Step.NOTE: Form.note,
    Step.SUMMARY: Form.summary,
}

STATE_STEPS: dict[str, Step] = {str(state.state): step for step, state in STEP_STATES.items()}
