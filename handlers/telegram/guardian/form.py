"""The application form: typed answers, grade and school buttons, edits, confirmation."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.errors import DomainError
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases import application, form_answers, submission
from bot.usecases.access import Actor
from bot.usecases.application import Step
from bot.usecases.replies import reply
from handlers.telegram.callbacks import CaseAction, CaseCb, GradeCb, SchoolCb
from handlers.telegram.context import CASE_KEY, data_value, enter_step
from handlers.telegram.guardian.states import STATE_STEPS, Form

EDITS = {
    CaseAction.EDIT_SCHOOL: Step.SCHOOL,
    CaseAction.EDIT_GRADE: Step.GRADE,
    CaseAction.EDIT_ADDRESS: Step.ADDRESS,
    CaseAction.EDIT_NOTE: Step.NOTE,
}


async def _case_id(state: FSMContext) -> str:
    case_id = await data_value(state, CASE_KEY)
    if not isinstance(case_id, str):
        raise DomainError("form.nothing_to_answer", "no case in the FSM data")
    return case_id


async def on_form_text(message: Message, state: FSMContext, svc: Services, actor: Actor) -> None:
    """A typed answer; the service knows which question it answers (see `answer_text`)."""
    assert message.text is not None
    case_id = await _case_id(state)
    routed = STATE_STEPS[str(await state.get_state())]
    await enter_step(
        state, case_id, await form_answers.answer_text(svc, actor, case_id, message.text, routed)
    )


async def on_not_text(message: Message, svc: Services, actor: Actor, lang: Lang) -> None:
    """Stickers, photos, voice and the like in the middle of the form: ask again politely."""
    await reply(svc, actor, svc.texts(lang, "form.not_text"), purpose="not_text")


async def on_grade(
    query: CallbackQuery, callback_data: GradeCb, state: FSMContext, svc: Services, actor: Actor
) -> None:
    step = await application.choose_grade(svc, actor, callback_data.case_id, callback_data.grade)
    await query.answer()
    await enter_step(state, callback_data.case_id, step)


async def on_school(
    query: CallbackQuery, callback_data: SchoolCb, state: FSMContext, svc: Services, actor: Actor
) -> None:
    step = await application.choose_school(
        svc, actor, callback_data.case_id, callback_data.school_id
    )
    await query.answer()
    await enter_step(state, callback_data.case_id, step)


async def on_edit(
    query: CallbackQuery, callback_data: CaseCb, state: FSMContext, svc: Services, actor: Actor
) -> None:
    step = await application.edit_field(
        svc, actor, callback_data.case_id, EDITS[callback_data.action]
    )
    await query.answer()
    await enter_step(state, callback_data.case_id, step)


async def on_skip_note(
    query: CallbackQuery, callback_data: CaseCb, state: FSMContext, svc: Services, actor: Actor
) -> None:
    step = await application.answer_note(svc, actor, callback_data.case_id, None)
    await query.answer()
    await enter_step(state, callback_data.case_id, step)


async def on_confirm(
    query: CallbackQuery, callback_data: CaseCb, state: FSMContext, svc: Services, actor: Actor
) -> None:
    step = await submission.confirm(svc, actor, callback_data.case_id)
    await query.answer()
    await enter_step(state, callback_data.case_id, step)


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    # A text starting with "/" is a command, never an answer: /cancel, /status and /help
    # must reach the command handlers (a later router) in the middle of the form too.
    router.message.filter(F.chat.type == "private", ~F.text.startswith("/"))
    router.message.register(on_form_text, StateFilter(Form), F.text)
    router.message.register(on_not_text, StateFilter(Form))
    router.callback_query.register(on_grade, GradeCb.filter())
    router.callback_query.register(on_school, SchoolCb.filter())
    router.callback_query.register(on_edit, CaseCb.filter(F.action.in_(EDITS)))
    router.callback_query.register(on_skip_note, CaseCb.filter(F.action == CaseAction.SKIP_NOTE))
    router.callback_query.register(on_confirm, CaseCb.filter(F.action == CaseAction.CONFIRM))
    return router
