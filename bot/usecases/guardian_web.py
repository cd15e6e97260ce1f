"""The guardian's pages: the SMS link, the one-time code to the signal's phone, the session.

The link `PUBLIC_BASE_URL/a/<token>` is the SMS's one-time token, stored hashed; it
opens nothing personal by itself. "Continue here" sends a code to the phone the health
system gave for the guardian: only its holder gets a session (24 h, for that case's
guardian). Five wrong codes lock the link for an hour (`web_identity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.domain.identifiers import case_number
from bot.domain.status import CaseStatus
from bot.errors import DomainError, NotFound
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.guardian_status import status_prompt
from bot.usecases.prompts import render_parts
from bot.usecases.staff_accounts import raise_unless_ok
from bot.usecases.web_identity import check_code, open_session, send_code
from storage.models import LinkToken
from storage.repositories.cases import get_case
from storage.repositories.documents import get_case_document
from storage.repositories.guardians import get_guardian
from storage.repositories.tokens import get_link_token
from storage.repositories.web_sessions import get_live_session

GUARDIAN_SESSION = timedelta(hours=24)
GUARDIAN_AUDIENCE = "guardian"
DOCUMENT_KINDS = ("application", "receipt", "refusal")


@dataclass(frozen=True)
class LinkPage:
    """What the first page may say before the guardian proved who they are: nothing
    personal, only the case number and the way into Telegram."""

    case_number: str
    telegram_link: str | None


# The guardian's next step (consent, the form) is still taken in the chat for these.
ANSWERED_IN_TELEGRAM = frozenset(
    {
        CaseStatus.RECEIVED,
        CaseStatus.AWAITING_LINK,
        CaseStatus.NOTIFIED,
        CaseStatus.CONSENTED,
        CaseStatus.DECLINED,
        CaseStatus.HEARING,
    }
)


@dataclass(frozen=True)
class GuardianPage:
    case_id: str
    case_number: str
    status: CaseStatus
    overview: str
    documents: tuple[str, ...]

    @property
    def needs_telegram(self) -> bool:
        """Consent, the form and the hearing's position are answered in the chat for now."""
        return self.status in ANSWERED_IN_TELEGRAM


async def _usable_link(svc: Services, raw_token: str) -> LinkToken:
    async with svc.sessions() as session:
        link = await get_link_token(session, raw_token, "guardian")
    if (
        link is None
        or link.case_id is None
        or link.used_at is not None
        or link.expires_at <= svc.clock.now()
    ):
        raise NotFound("web.link_invalid", "no usable guardian link")
    return link


async def open_link(svc: Services, raw_token: str) -> LinkPage:
    """The first page of a valid link; anything else is "this link does not work"."""
    link = await _usable_link(svc, raw_token)
    assert link.case_id is not None
    return LinkPage(case_number(link.case_id), svc.bot_profile.deep_link(raw_token))


async def request_code(svc: Services, raw_token: str, lang: Lang) -> str:
    """Send a code to the signal's phone of the link's case; return the challenge."""
    link = await _usable_link(svc, raw_token)
    async with svc.sessions.begin() as session:
        case = await get_case(session, link.case_id or "")
        guardian = await get_guardian(session, case.guardian_id) if case else None
        if guardian is None or guardian.pd_enc is None:
            raise NotFound("web.link_invalid", "the link's case has no guardian phone")
        phone = svc.cipher.decrypt_json(guardian.pd_enc)["phone"]
        return await send_code(session, svc, f"link:{link.id}", phone, lang)


async def confirm_code(svc: Services, raw_token: str, challenge: str, code: str) -> str:
    """Check the code of this link; on success open a 24-hour session for its case."""
    link = await _usable_link(svc, raw_token)
    answer = await check_code(svc, challenge, code)
    if answer.subject is not None and answer.subject != f"link:{link.id}":
        raise DomainError("web.code_expired", "the challenge belongs to another link")
    raise_unless_ok(svc, answer)
    async with svc.sessions.begin() as session:
        return open_session(session, svc, GUARDIAN_AUDIENCE, GUARDIAN_SESSION, case_id=link.case_id)


async def case_of_session(svc: Services, token: str) -> str | None:
    """The case a guardian's session is for, while it lasts."""
    async with svc.sessions() as session:
        row = await get_live_session(session, token, GUARDIAN_AUDIENCE, svc.clock.now())
    return row.case_id if row else None


async def guardian_page(svc: Services, case_id: str, lang: Lang) -> GuardianPage:
    """The guardian's cases in the words of `/status`, and the PDFs of this case."""
    async with svc.sessions() as session:
        case = await get_case(session, case_id)
        if case is None:
            raise NotFound("web.link_invalid", f"no case {case_id}")
        documents = [
            kind for kind in DOCUMENT_KINDS if await get_case_document(session, case_id, kind)
        ]
        guardian = await get_guardian(session, case.guardian_id)
        if guardian is None:
            raise NotFound("web.link_invalid", f"no guardian of case {case_id}")
        overview = render_parts(svc.texts, await status_prompt(session, svc, guardian, lang))
    status = CaseStatus(case.status)
    return GuardianPage(case_id, case_number(case_id), status, overview, tuple(documents))


async def guardian_document(svc: Services, case_id: str, kind: str) -> tuple[str, bytes]:
    """One PDF of the session's case: (file name, bytes)."""
    async with svc.sessions() as session:
        document = await get_case_document(session, case_id, kind)
    if kind not in DOCUMENT_KINDS or document is None or document.content_enc is None:
        raise NotFound("web.link_invalid", f"case {case_id} has no {kind} PDF")
    return f"{kind}-{case_number(case_id)}.pdf", svc.cipher.decrypt_bytes(document.content_enc)
