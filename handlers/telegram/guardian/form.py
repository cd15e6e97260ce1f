"""The application form's buttons: grade, school, edits, no note, confirmation.

Typed answers arrive as plain text (see `commands.on_text`): the draft knows which
question they answer.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery

from bot.domain.choices import Step
from bot.runtime import Services
from bot.usecases import form_answers, submission
from bot.usecases.access import Actor
from handlers.telegram.callbacks import CaseAction, CaseCb, GradeCb, SchoolCb
from handlers.telegram.guardian.views import TelegramPresenter
from handlers.telegram.views import EDITS


async def on_grade(
    query: CallbackQuery,
    callback_data: GradeCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    grade = str(callback_data.grade)
    await form_answers.choose(
        svc.sessions, svc.clock, svc.cipher, actor, callback_data.case_id, Step.GRADE, grade,
        present=present,
    )  # fmt: skip


async def on_school(
    query: CallbackQuery,
    callback_data: SchoolCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    school = str(callback_data.school_id)
    await form_answers.choose(
        svc.sessions, svc.clock, svc.cipher, actor, callback_data.case_id, Step.SCHOOL, school,
        present=present,
    )  # fmt: skip


async def on_skip_note(
    query: CallbackQuery,
    callback_data: CaseCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    await form_answers.choose(
        svc.sessions, svc.clock, svc.cipher, actor, callback_data.case_id, Step.NOTE, None,
        present=present,
    )  # fmt: skip


async def on_edit(
    query: CallbackQuery,
    callback_data: CaseCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    step = EDITS[callback_data.action]
    await form_answers.edit(
        svc.sessions, svc.clock, svc.cipher, actor, callback_data.case_id, step, present=present
    )


async def on_confirm(
    query: CallbackQuery,
    callback_data: CaseCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    await submission.confirm(svc, actor, callback_data.case_id, present=present)


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.callback_query.register(on_grade, GradeCb.filter())
    router.callback_query.register(on_school, SchoolCb.filter())
    router.callback_query.register(on_edit, CaseCb.filter(F.action.in_(EDITS)))
    router.callback_query.register(on_skip_note, CaseCb.filter(F.action == CaseAction.SKIP_NOTE))
    router.callback_query.register(on_confirm, CaseCb.filter(F.action == CaseAction.CONFIRM))
    return router
