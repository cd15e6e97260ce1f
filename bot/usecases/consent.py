"""The guardian's consent (PD law art. 8): agree, decline, the way back, and withdrawal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.choices import Act, Choice, Text
from bot.domain.identifiers import case_number
from bot.domain.status import DECIDABLE_STATUSES, DECIDED_STATUSES, CaseEvent, CaseStatus
from bot.domain.timing import local_time
from bot.errors import DomainError
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.access import Actor, guardian_lang, lock_own_case
from bot.usecases.application import ask, missing_step, open_draft
from bot.usecases.case_views import case_view
from bot.usecases.expiry import EXPIRE_AFTER
from bot.usecases.forwarding import tell_school_consent_withdrawn
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import text_message
from bot.usecases.notices import consent_text, notice_prompt
from bot.usecases.prompts import Present, Prompt, show
from bot.usecases.welcome import language_of
from storage.models import Case, ConsentRecord, Guardian
from storage.outbox import Kind, enqueue
from storage.repositories.audit import add_audit_event
from storage.repositories.cases import list_cases_of_guardian
from storage.repositories.consent import keep_consent_text, latest_consent
from storage.repositories.guardians import get_guardian_by_telegram
from storage.repositories.schools import get_school

# The dispatcher records a notice as delivered only after Telegram answered (outcomes are
# committed in small batches), so a quick tap can arrive while the case still looks
# unnotified. The press itself proves the notice reached the owner's chat.
NOT_YET_NOTIFIED = (CaseStatus.RECEIVED, CaseStatus.AWAITING_LINK)
ANSWERABLE = (*NOT_YET_NOTIFIED, CaseStatus.NOTIFIED, CaseStatus.DECLINED)
DECLINABLE = (*NOT_YET_NOTIFIED, CaseStatus.NOTIFIED, CaseStatus.CONSENTED)
# Withdrawal: while the form is open it closes the case; once the school has the
# package (or decided on it) the school is told.
BEFORE_SUBMISSION = (CaseStatus.CONSENTED,)
AFTER_SUBMISSION = (*sorted(DECIDABLE_STATUSES), *sorted(DECIDED_STATUSES))
WITHDRAWABLE = (*BEFORE_SUBMISSION, *AFTER_SUBMISSION)


async def agree(
    svc: Services,
    actor: Actor,
    case_id: str,
    message_id: int | None,
    *,
    present: Present | None = None,
) -> Prompt:
    """Record consent and ask the first missing application field (or show the summary)."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, ANSWERABLE)
        _notice_seen(session, svc, case, actor)
        await _record(session, svc, case, guardian, actor, message_id, "agree")
        apply_event(session, case, CaseEvent.CONSENT_GIVEN, actor=actor.who, now=svc.clock.now())
        case.consented_at = svc.clock.now()
        application, draft = await open_draft(session, svc.cipher, svc.clock.now(), case, guardian)
        step = missing_step(case, draft)
        return await ask(
            session, svc.cipher, svc.clock, actor, case, guardian, step, application, draft,
            present,
        )  # fmt: skip


async def decline(
    svc: Services,
    actor: Actor,
    case_id: str,
    message_id: int | None,
    *,
    present: Present | None = None,
) -> Prompt:
    """Close the case on ground 3 and say, once, how to come back and until when."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, DECLINABLE)
        _notice_seen(session, svc, case, actor)
        await _record(session, svc, case, guardian, actor, message_id, "decline")
        now = svc.clock.now()
        apply_event(session, case, CaseEvent.CONSENT_DECLINED, actor=actor.who, now=now)
        prompt = way_back(svc, case.id, guardian_lang(guardian), now)
        return await show(session, present, actor, prompt)


def way_back(
    svc: Services, case_id: str, lang: Lang, since: datetime, *, withdrawn: bool = False
) -> Prompt:
    """What happened (a decline, or a withdrawal before submission at `since`) and the
    way back with its last moment.

    The case expires `EXPIRE_AFTER` after that answer; the expiry then stays silent,
    since this message already said what happens then.
    """
    ground = Text("ground.3")
    if withdrawn:
        first = Text("withdraw.before", {"case_number": case_number(case_id), "ground": ground})
    else:
        first = Text("consent.declined", {"ground": ground})
    until = local_time(since + EXPIRE_AFTER, svc.clock.zone)
    return Prompt(
        lang=lang,
        purpose="withdrawn" if withdrawn else "declined",
        parts=(first, Text("consent.way_back", {"until": until})),
        choices=((Choice(Act.AGAIN, Text("consent.again_button")),),),
        case_id=case_id,
    )


async def ask_again(
    svc: Services, actor: Actor, case_id: str, *, present: Present | None = None
) -> Prompt:
    """ "I changed my mind": show the consent request again while the case is open."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.DECLINED,))
        notice = await notice_of(session, svc, case, guardian, web=actor.web_case_id is not None)
        return await show(session, present, actor, notice)


async def notice_of(
    session: AsyncSession, svc: Services, case: Case, guardian: Guardian, *, web: bool
) -> Prompt:
    """The notice of `case` in its guardian's language, as the chat or the page shows it."""
    lang = guardian_lang(guardian)
    school = await get_school(session, case.school_id) if case.school_id else None
    return notice_prompt(
        svc.settings.RETENTION_DAYS, lang, case_view(svc.cipher, case, school, lang), web=web
    )


def _notice_seen(session: AsyncSession, svc: Services, case: Case, actor: Actor) -> None:
    """Mark the case notified if the answer overtook the dispatcher's delivery record."""
    if CaseStatus(case.status) in NOT_YET_NOTIFIED:
        now = svc.clock.now()
        apply_event(session, case, CaseEvent.NOTICE_SENT, actor=actor.who, now=now)
        case.notified_at = case.notified_at or now


async def _record(
    session: AsyncSession,
    svc: Services,
    case: Case,
    guardian: Guardian,
    actor: Actor,
    message_id: int | None,
    choice: str,
    of: ConsentRecord | None = None,
) -> None:
    """Keep the evidence: the exact text (stored once), its version and hash, the time,
    the Telegram user and message. A withdrawal names the text `of` the consent it takes
    back, not the wording shown today."""
    now = svc.clock.now()
    if of is None:
        shown = consent_text(svc, guardian_lang(guardian), web=actor.web_case_id is not None)
        await keep_consent_text(
            session,
            sha256=shown.sha256,
            version=shown.version,
            language=shown.language.value,
            text=shown.text,
            now=now,
        )
        version, sha256 = shown.version, shown.sha256
    else:
        version, sha256 = of.text_version, of.text_sha256
    session.add(
        ConsentRecord(
            case_id=case.id,
            choice=choice,
            text_version=version,
            text_sha256=sha256,
            telegram_user_id=None if actor.web_case_id else actor.telegram_user_id,
            message_id=message_id,
            created_at=now,
        )
    )


async def offer_withdrawal(svc: Services, actor: Actor) -> None:
    """`/withdraw`: one button per case whose consent stands, or that there is none.

    Taking consent back is not undone by a slip of the finger, so the command only
    explains what follows and the press on a case does it.
    """
    async with svc.sessions.begin() as session:
        guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
        standing = await _standing_consents(session, guardian) if guardian else []
        lang = guardian_lang(guardian) if guardian else await language_of(session, actor)
        text = svc.texts(lang, "withdraw.choose" if standing else "withdraw.none")
        choices = tuple(
            (
                Choice(
                    Act.WITHDRAW,
                    svc.texts(
                        lang,
                        "withdraw.button",
                        case_number=case_number(case.id),
                        child_name=case_view(svc.cipher, case, None, lang).child_name,
                    ),
                    case.id,
                ),
            )
            for case in standing
        )
        message = text_message(
            f"{actor.origin}:withdraw", Kind.REPLY, actor.chat_id, text, choices=choices
        )
        await enqueue(session, svc.cipher, svc.clock.now(), message)


async def withdraw(
    svc: Services,
    actor: Actor,
    case_id: str,
    message_id: int | None,
    *,
    present: Present | None = None,
) -> bool:
    """Take the consent back; True when the form was still open and is now closed.

    Before submission nothing has left: the case closes on ground 3, with the same way
    back as a decline. After it, the school has the package: the guardian is told what
    it holds, and every inbox of the school is told the consent is withdrawn; the school
    then decides, as the order has it (ground 3).
    """
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, WITHDRAWABLE)
        agreed = await latest_consent(session, case.id)
        if agreed is None or agreed.choice != "agree" or case.pd_enc is None:
            raise DomainError("error.stale_button", f"case {case_id} has no standing consent")
        now = svc.clock.now()
        await _record(session, svc, case, guardian, actor, message_id, "withdraw", of=agreed)
        lang = guardian_lang(guardian)
        number = case_number(case.id)
        if CaseStatus(case.status) in BEFORE_SUBMISSION:
            apply_event(
                session,
                case,
                CaseEvent.CONSENT_DECLINED,
                actor=actor.who,
                now=now,
                details={"withdrawn": True},
            )
            await show(session, present, actor, way_back(svc, case.id, lang, now, withdrawn=True))
            return True
        add_audit_event(
            session, case_id=case.id, at=now, actor=actor.who, event="consent_withdrawn"
        )
        school = await get_school(session, case.school_id) if case.school_id else None
        view = case_view(svc.cipher, case, school, lang)
        told = Text(
            "withdraw.after",
            {
                "case_number": number,
                "conclusion_number": view.conclusion_number,
                "conclusion_date": view.conclusion_date.strftime("%d.%m.%Y"),
                "consent_at": local_time(agreed.created_at, svc.clock.zone),
                "school": view.school or Text("form.empty"),
                "ground": Text("ground.3"),
            },
        )
        prompt = Prompt(lang, "withdrawn", (told,), case_id=case.id)
        await show(session, present, actor, prompt)
        await tell_school_consent_withdrawn(session, svc.forwarding, case, school, now)
        return False


async def _standing_consents(session: AsyncSession, guardian: Guardian) -> list[Case]:
    """The guardian's cases whose last consent answer is still "agree"."""
    return [
        case
        for case in await list_cases_of_guardian(session, guardian.id)
        if await consent_stands(session, case)
    ]


async def consent_stands(session: AsyncSession, case: Case) -> bool:
    """Whether the case's consent may be withdrawn: its last answer is "agree"."""
    if CaseStatus(case.status) not in WITHDRAWABLE or case.pd_enc is None:
        return False
    last = await latest_consent(session, case.id)
    return last is not None and last.choice == "agree"
