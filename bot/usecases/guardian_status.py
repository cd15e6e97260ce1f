"""`/status`: every case of the guardian, in plain words, with the school's deadline."""

from __future__ import annotations

from bot.domain.status import WITH_SCHOOL_STATUSES, CaseStatus
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.case_views import case_number
from bot.usecases.clockwork import local_time
from bot.usecases.hearing import hearing_closed
from storage.models import Case
from storage.repositories.cases import list_cases_of_guardian
from storage.repositories.guardians import get_guardian_by_telegram


async def status_text(svc: Services, telegram_user_id: int, lang: Lang) -> str | None:
    """The overview for a linked guardian, or None when this user is not linked."""
    async with svc.sessions() as session:
        guardian = await get_guardian_by_telegram(session, telegram_user_id)
    if guardian is None:
        return None
    return await guardian_overview(svc, guardian.id, lang)


async def guardian_overview(svc: Services, guardian_id: int, lang: Lang) -> str:
    """Every case of the guardian in plain words (safe HTML): `/status` and the web page."""
    async with svc.sessions() as session:
        cases = await list_cases_of_guardian(session, guardian_id)
    t = svc.texts
    if not cases:
        return t(lang, "status.none")
    items = [t(lang, "status.header")]
    for case in cases:
        child = svc.cipher.decrypt_json(case.pd_enc)["child"]["full_name"] if case.pd_enc else "—"
        status = CaseStatus(case.status)
        item = t(
            lang,
            "status.item",
            case_number=case_number(case.id),
            child_name=child,
            status=t(lang, f"status.{status.value}"),
        )
        if status in WITH_SCHOOL_STATUSES and case.deadline_at is not None:
            item += "\n" + t(lang, "status.deadline", deadline=local_time(svc, case.deadline_at))
        elif status is CaseStatus.HEARING:
            item += "\n" + _hearing_line(svc, case, lang)
        items.append(item)
    return "\n\n".join(items)


def _hearing_line(svc: Services, case: Case, lang: Lang) -> str:
    """Until when a position is awaited, or that the school now takes the final decision."""
    if hearing_closed(case, svc.clock.now()) or case.hearing_until is None:
        return svc.texts(lang, "status.hearing_decision")
    return svc.texts(lang, "status.hearing_until", until=local_time(svc, case.hearing_until))
