"""Who may act on a case: every button press and answer is checked here."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseStatus
from bot.errors import DomainError
from bot.texts import DEFAULT_LANG, Lang, parse_lang
from storage.models import Case, Guardian
from storage.repositories.cases import get_case, lock_case
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
    interface_lang: Lang | None = None
    """The language of the person's app when it is one of ours: spoken until they choose."""
    web_case_id: str | None = None
    """Set only for a guardian signed in on the web: the case their session opened (by
    the code sent to the signal's phone). Such an actor has no Telegram account."""

    @property
    def who(self) -> str:
        """The actor as the audit trail names it."""
        if self.web_case_id is not None:
            return f"web:guardian:{self.web_case_id}"
        return f"telegram:{self.telegram_user_id}"


def web_guardian(case_id: str, origin: str) -> Actor:
    """The guardian of `case_id` as a signed-in web session; the caller checked the session.

    No chat and no Telegram user: `_own_case` accepts it for its own case only.
    """
    return Actor(telegram_user_id=0, chat_id=0, origin=origin, web_case_id=case_id)


def guardian_lang(guardian: Guardian) -> Lang:
    return parse_lang(guardian.language) or DEFAULT_LANG


async def lock_own_case(
    session: AsyncSession, case_id: str, actor: Actor, allowed: Collection[CaseStatus]
) -> tuple[Case, Guardian]:
    """Lock a case the actor's guardian owns and that is in one of `allowed` statuses.

    A forged or replayed button for someone else's case is refused without revealing
    anything about it; a button from an old message is refused as stale.
    """
    return await _own_case(session, await lock_case(session, case_id), case_id, actor, allowed)


async def read_own_case(
    session: AsyncSession, case_id: str, actor: Actor, allowed: Collection[CaseStatus]
) -> tuple[Case, Guardian]:
    """The same checks as `lock_own_case` without the lock, for work that writes no case."""
    return await _own_case(session, await get_case(session, case_id), case_id, actor, allowed)


async def _own_case(
    session: AsyncSession,
    case: Case | None,
    case_id: str,
    actor: Actor,
    allowed: Collection[CaseStatus],
) -> tuple[Case, Guardian]:
    guardian = await get_guardian(session, case.guardian_id) if case else None
    if case is None or guardian is None or not _owns(actor, case, guardian):
        raise DomainError("error.not_your_case", f"user may not act on case {case_id}")
    if CaseStatus(case.status) not in allowed:
        raise DomainError("error.stale_button", f"case {case_id} is {case.status}")
    return case, guardian


def _owns(actor: Actor, case: Case, guardian: Guardian) -> bool:
    """A web session owns the one case it was opened for; a Telegram user owns the cases
    of the guardian linked to them. Neither kind of identity stands in for the other."""
    if actor.web_case_id is not None:
        return actor.web_case_id == case.id
    return guardian.telegram_user_id is not None and guardian.telegram_user_id == (
        actor.telegram_user_id
    )
