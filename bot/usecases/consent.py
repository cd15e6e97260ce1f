"""The guardian's consent (PD law art. 8): agree, decline, the way back, and withdrawal."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.choices import Act, Choice
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
from bot.usecases.first_contact import notice_dedupe_key
from bot.usecases.forwarding import tell_school_consent_withdrawn
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import text_message
from bot.usecases.notices import consent_text, notice_message
from bot.usecases.prompts import Present, Prompt
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
        apply_event(session, case, CaseEvent.CONSENT_GIVEN, actor=_who(actor), now=svc.clock.now())
        case.consented_at = svc.clock.now()
        application, draft = await open_draft(session, svc.cipher, svc.clock.now(), case, guardian)
        step = missing_step(case, draft)
        return await ask(
            session, svc.cipher, svc.clock, actor, case, guardian, step, application, draft,
            present,
        )  # fmt: skip


async def decline(svc: Services, actor: Actor, case_id: str, message_id: int | None) -> None:
    """Close the case on ground 3 and say, once, how to come back and until when."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, DECLINABLE)
        _notice_seen(session, svc, case, actor)
        await _record(session, svc, case, guardian, actor, message_id, "decline")
        apply_event(
            session, case, CaseEvent.CONSENT_DECLINED, actor=_who(actor), now=svc.clock.now()
        )
        lang = guardian_lang(guardian)
        first = svc.texts(lang, "consent.declined", ground=svc.texts(lang, "ground.3"))
        await _offer_way_back(session, svc, case, actor, lang, first, "declined")


async def _offer_way_back(
    session: AsyncSession,
    svc: Services,
    case: Case,
    actor: Actor,
    lang: Lang,
    first: str,
    purpose: str,
) -> None:
    """What happened (`first`, safe HTML) and the way back with its last moment.

    The case expires `EXPIRE_AFTER` after this answer; the expiry then stays silent,
    since this message already said what happens then.
    """
    until = local_time(svc.clock.now() + EXPIRE_AFTER, svc.clock.zone)
    text = "\n\n".join([first, svc.texts(lang, "consent.way_back", until=until)])
    again = Choice(Act.AGAIN, svc.texts(lang, "consent.again_button"), case.id)
    reply = text_message(
        f"{actor.origin}:{purpose}",
        Kind.REPLY,
        actor.chat_id,
        text,
        case_id=case.id,
        choices=((again,),),
    )
    await enqueue(session, svc.cipher, svc.clock.now(), reply)


async def ask_again(svc: Services, actor: Actor, case_id: str) -> None:
    """ "I changed my mind": show the consent request again while the case is open."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.DECLINED,))
        lang = guardian_lang(guardian)
        school = await get_school(session, case.school_id) if case.school_id else None
        view = case_view(svc.cipher, case, school, lang)
        key = f"{notice_dedupe_key(case.id, actor.chat_id)}:{actor.origin}"
        message = notice_message(svc, lang, view, actor.chat_id, key, Kind.REPLY)
        await enqueue(session, svc.cipher, svc.clock.now(), message)


def _notice_seen(session: AsyncSession, svc: Services, case: Case, actor: Actor) -> None:
    """Mark the case notified if the answer overtook the dispatcher's delivery record."""
    if CaseStatus(case.status) in NOT_YET_NOTIFIED:
        now = svc.clock.now()
        apply_event(session, case, CaseEvent.NOTICE_SENT, actor=_who(actor), now=now)
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
        shown = consent_text(svc, guardian_lang(guardian))
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
            telegram_user_id=actor.telegram_user_id,
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


async def withdraw(svc: Services, actor: Actor, case_id: str, message_id: int | None) -> bool:
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
        ground = svc.texts(lang, "ground.3")
        number = case_number(case.id)
        if CaseStatus(case.status) in BEFORE_SUBMISSION:
            apply_event(
                session,
                case,
                CaseEvent.CONSENT_DECLINED,
                actor=_who(actor),
                now=now,
                details={"withdrawn": True},
            )
            first = svc.texts(lang, "withdraw.before", case_number=number, ground=ground)
            await _offer_way_back(session, svc, case, actor, lang, first, "withdrawn")
            return True
        add_audit_event(
            session, case_id=case.id, at=now, actor=_who(actor), event="consent_withdrawn"
        )
        school = await get_school(session, case.school_id) if case.school_id else None
        view = case_view(svc.cipher, case, school, lang)
        text = svc.texts(
            lang,
            "withdraw.after",
            case_number=number,
            conclusion_number=view.conclusion_number,
            conclusion_date=view.conclusion_date.strftime("%d.%m.%Y"),
            consent_at=local_time(agreed.created_at, svc.clock.zone),
            school=view.school or svc.texts(lang, "form.empty"),
            ground=ground,
        )
        reply = text_message(
            f"{actor.origin}:withdrawn", Kind.REPLY, actor.chat_id, text, case_id=case.id
        )
        await enqueue(session, svc.cipher, now, reply)
        await tell_school_consent_withdrawn(session, svc, case, school, now)
        return False


async def _standing_consents(session: AsyncSession, guardian: Guardian) -> list[Case]:
    """The guardian's cases whose last consent answer is still "agree"."""
    standing = []
    for case in await list_cases_of_guardian(session, guardian.id):
        if CaseStatus(case.status) not in WITHDRAWABLE or case.pd_enc is None:
            continue
        last = await latest_consent(session, case.id)
        if last is not None and last.choice == "agree":
            standing.append(case)
    return standing


def _who(actor: Actor) -> str:
    return f"telegram:{actor.telegram_user_id}"
