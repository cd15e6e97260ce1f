"""`/status`: every case of the guardian, in plain words, with the school's deadline."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.choices import Text
from bot.domain.identifiers import case_number
from bot.domain.status import WITH_SCHOOL_STATUSES, CaseStatus
from bot.domain.timing import local_time
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.hearing import hearing_closed
from bot.usecases.prompts import Prompt, say
from storage.models import Case, Guardian
from storage.repositories.cases import list_cases_of_guardian


async def status_prompt(
    session: AsyncSession, svc: Services, guardian: Guardian, lang: Lang
) -> Prompt:
    """The overview of a linked guardian's cases, oldest first."""
    cases = await list_cases_of_guardian(session, guardian.id)
    if not cases:
        return say(lang, "status", "status.none")
    items = tuple(_item(svc, case) for case in cases)
    return Prompt(lang=lang, purpose="status", parts=(Text("status.header"), *items))


def _item(svc: Services, case: Case) -> Text:
    child = svc.cipher.decrypt_json(case.pd_enc)["child"]["full_name"] if case.pd_enc else "—"
    status = CaseStatus(case.status)
    lines: tuple[Text, ...] = ()
    if status in WITH_SCHOOL_STATUSES and case.deadline_at is not None:
        lines = (
            Text("status.deadline", {"deadline": local_time(case.deadline_at, svc.clock.zone)}),
        )
    elif status is CaseStatus.HEARING:
        lines = (_hearing_line(svc, case),)
    params = {
        "case_number": case_number(case.id),
        "child_name": child,
        "status": Text(f"status.{status.value}"),
    }
    return Text("status.item", params, lines)


def _hearing_line(svc: Services, case: Case) -> Text:
    """Until when a position is awaited, or that the school now takes the final decision."""
    if hearing_closed(case, svc.clock.now()) or case.hearing_until is None:
        return Text("status.hearing_decision")
    return Text("status.hearing_until", {"until": local_time(case.hearing_until, svc.clock.zone)})
