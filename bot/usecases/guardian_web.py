"""The guardian's pages: the SMS link, the code to the signal's phone, the session, the story.

The link `PUBLIC_BASE_URL/a/<token>` is the SMS's one-time token, stored hashed; it
opens nothing personal by itself. "Continue here" sends a code to the phone the health
system gave for the guardian: only its holder gets a session (24 h, for that case's
guardian). Five wrong codes lock the link for an hour (`web_identity`). From then on the
page shows what the chat would have left open for the case, built by the chat's own
use cases, and its forms call them with the session's actor (`access.web_guardian`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.choices import Step
from bot.domain.identifiers import case_number
from bot.domain.status import CaseEvent, CaseStatus
from bot.errors import DomainError, NotFound
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.access import Actor, web_guardian
from bot.usecases.application import load_draft, missing_step, question, summary
from bot.usecases.consent import consent_stands, notice_of, way_back
from bot.usecases.guardian_status import status_prompt
from bot.usecases.hearing import hearing_closed, invitation_prompt
from bot.usecases.identity import AWAITING_GUARDIAN
from bot.usecases.lifecycle import apply_event
from bot.usecases.prompts import Prompt
from bot.usecases.staff_accounts import raise_unless_ok
from bot.usecases.web_identity import check_code, open_session, send_code
from storage.models import Case, Guardian, LinkToken
from storage.repositories.cases import get_case, lock_case
from storage.repositories.consent import latest_consent
from storage.repositories.documents import get_case_document
from storage.repositories.guardians import get_guardian
from storage.repositories.schools import get_school
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


@dataclass(frozen=True)
class GuardianPage:
    """What the signed-in guardian's page shows now: the prompt the chat would have left
    open for this case (the notice, the way back, the form's question, the hearing's
    invitation) or, when nothing waits for them, the overview of `/status`."""

    case_id: str
    case_number: str
    status: CaseStatus
    prompt: Prompt
    documents: tuple[str, ...]
    can_withdraw: bool
    """The consent stands, so the page offers to withdraw it (as `/withdraw` does)."""


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


async def confirm_code(svc: Services, raw_token: str, challenge: str, code: str, lang: Lang) -> str:
    """Check the code of this link; on success open a 24-hour session for its case.

    The code went to the phone the health system gave, so the right one proves the
    guardian as sharing that phone in the chat does: a case waiting for that proof is
    now waiting for the guardian's consent, and the guardian speaks `lang`.
    """
    link = await _usable_link(svc, raw_token)
    answer = await check_code(svc, challenge, code)
    if answer.subject is not None and answer.subject != f"link:{link.id}":
        raise DomainError("web.code_expired", "the challenge belongs to another link")
    raise_unless_ok(svc, answer)
    assert link.case_id is not None
    async with svc.sessions.begin() as session:
        case = await lock_case(session, link.case_id)
        guardian = await get_guardian(session, case.guardian_id) if case else None
        if case is None or guardian is None:
            raise NotFound("web.link_invalid", "the link's case is gone")
        _identity_confirmed(session, svc, case, guardian, lang)
        return open_session(session, svc, GUARDIAN_AUDIENCE, GUARDIAN_SESSION, case_id=case.id)


_NOT_YET_SHOWN = {
    CaseStatus.AWAITING_LINK: CaseEvent.GUARDIAN_LINKED,
    CaseStatus.RECEIVED: CaseEvent.NOTICE_SENT,
}
"""The event of a case whose notice the guardian's page shows from now on."""


def _identity_confirmed(
    session: AsyncSession, svc: Services, case: Case, guardian: Guardian, lang: Lang
) -> None:
    now = svc.clock.now()
    event = _NOT_YET_SHOWN.get(CaseStatus(case.status))
    if event is not None:
        who = web_guardian(case.id, "web").who
        apply_event(session, case, event, actor=who, now=now)
        case.notified_at = case.notified_at or now
    speak(guardian, lang, now)


def speak(guardian: Guardian, lang: Lang, now: datetime) -> None:
    """The guardian's language from now on, in the chat too: what the page shows them
    (the consent text included) is what the use cases record in their language."""
    if guardian.language != lang.value:
        guardian.language, guardian.updated_at = lang.value, now


async def case_of_session(svc: Services, token: str) -> str | None:
    """The case a guardian's session is for, while it lasts."""
    async with svc.sessions() as session:
        row = await get_live_session(session, token, GUARDIAN_AUDIENCE, svc.clock.now())
    return row.case_id if row else None


async def guardian_page(svc: Services, case_id: str, lang: Lang) -> GuardianPage:
    """What the session's case waits for now, in `lang`, and the case's PDFs."""
    async with svc.sessions() as session:
        case = await get_case(session, case_id)
        guardian = await get_guardian(session, case.guardian_id) if case else None
        if case is None or guardian is None:
            raise NotFound("web.link_invalid", f"no case {case_id} or no guardian")
        documents = [
            kind for kind in DOCUMENT_KINDS if await get_case_document(session, case_id, kind)
        ]
        prompt = await _waiting(session, svc, case, guardian, lang)
        standing = await consent_stands(session, case)
    status = CaseStatus(case.status)
    number = case_number(case_id)
    return GuardianPage(case_id, number, status, prompt, tuple(documents), standing)


async def _waiting(
    session: AsyncSession, svc: Services, case: Case, guardian: Guardian, lang: Lang
) -> Prompt:
    """The prompt the chat leaves open for the case, built by the chat's own use cases."""
    status = CaseStatus(case.status)
    if status in AWAITING_GUARDIAN:
        return await notice_of(session, svc, case, guardian, web=True)
    if status is CaseStatus.DECLINED:
        answered = await latest_consent(session, case.id)
        since = answered.created_at if answered else case.updated_at
        withdrawn = answered is not None and answered.choice == "withdraw"
        return way_back(svc, case.id, lang, since, withdrawn=withdrawn)
    if status is CaseStatus.CONSENTED:
        _, draft = await load_draft(session, svc.cipher, case.id)
        step = draft.asked or missing_step(case, draft)
        if step is Step.SUMMARY:
            return await summary(session, svc.cipher, case, draft, lang)
        return question(case.id, lang, step)
    awaits_position = case.hearing_answered_at is None and not hearing_closed(case, svc.clock.now())
    if status is CaseStatus.HEARING and awaits_position:
        school = await get_school(session, case.school_id) if case.school_id else None
        reason = svc.cipher.decrypt_text(case.hearing_reason_enc) if case.hearing_reason_enc else ""
        return invitation_prompt(svc.clock.zone, case, school, lang, reason)
    return await status_prompt(session, svc, guardian, lang)


async def act_as(svc: Services, token: str, origin: str, lang: Lang) -> Actor | None:
    """The actor of a live session's guardian, who speaks `lang` from now on; None when
    the session has ended. The use cases accept this actor for the session's case only."""
    async with svc.sessions.begin() as session:
        now = svc.clock.now()
        row = await get_live_session(session, token, GUARDIAN_AUDIENCE, now)
        case = await get_case(session, row.case_id) if row and row.case_id else None
        guardian = await get_guardian(session, case.guardian_id) if case else None
        if case is None or guardian is None:
            return None
        speak(guardian, lang, now)
        return web_guardian(case.id, origin)


async def guardian_document(svc: Services, case_id: str, kind: str) -> tuple[str, bytes]:
    """One PDF of the session's case: (file name, bytes)."""
    async with svc.sessions() as session:
        document = await get_case_document(session, case_id, kind)
    if kind not in DOCUMENT_KINDS or document is None or document.content_enc is None:
        raise NotFound("web.link_invalid", f"case {case_id} has no {kind} PDF")
    return f"{kind}-{case_number(case_id)}.pdf", svc.cipher.decrypt_bytes(document.content_enc)
