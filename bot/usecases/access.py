"""Who may act on a case: every button press and answer is checked here."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseStatus
from bot.errors import DomainError
from bot.texts import DEFAULT_LANG, Lang, parse_lang
from storage.models import Case, Guardian
from storage.repositories.cases import lock_case
from storage.repositories.guardians import get_guardian


@dataclass(frozen=True)
class Actor:
    """A Telegram user acting in a chat; `origin` makes replies to one update idempotent.

    `name` is the user's name as Telegram gives it (a staff member signs a decision).
    """

    telegram_user_id: int
    chat_id: int
    origin: str
    display_name: str = ""
    """The name as Telegram shows it (first and last name), e.g. for who accepted."""


def guardian_lang(guardian: Guardian) -> Lang:
    return parse_lang(guardian.language) or DEFAULT_LANG


async def lock_own_case(
    session: AsyncSession, case_id: str, actor: Actor, allowed: Collection[CaseStatus]
) -> tuple[Case, Guardian]:
    """Lock a case the actor's guardian owns and that is in one of `allowed` statuses.

    A forged or replayed button for someone else's case is refused without revealing
    anything about it; a button from an old message is refused as stale.
    """
    case = await lock_case(session, case_id)
    guardian = await get_guardian(session, case.guardian_id) if case else None
    if case is None or guardian is None or guardian.telegram_user_id != actor.telegram_user_id:
        raise DomainError("error.not_your_case", f"user may not act on case {case_id}")
    if CaseStatus(case.status) not in allowed:
        raise DomainError("error.stale_button", f"case {case_id} is {case.status}")
    return case, guardian
