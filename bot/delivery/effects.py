"""What a delivered or undeliverable message means for its case (the dispatcher's hooks).

They run inside the transaction that marks the outbox row sent or dead, so a case is
`notified` exactly when its notice reached the guardian, and `forwarded` exactly when
the school's first inbox took the package.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.senders import Undeliverable
from bot.domain.identifiers import case_number
from bot.domain.status import FINAL_STATUSES, CaseEvent, CaseStatus
from bot.domain.timing import next_daytime
from bot.runtime import Delivering, GuardianLinks
from bot.texts import Texts
from bot.usecases.access import guardian_lang
from bot.usecases.first_contact import guardian_link
from bot.usecases.forwarding import staff_language
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import text_message
from storage.models import Case, Guardian, LinkToken, OutboxMessage, School
from storage.outbox import Channel, Kind, OutgoingMessage, SmsPayload, enqueue
from storage.repositories.cases import lock_case

log = logging.getLogger(__name__)

GUARDIAN_KINDS = frozenset({Kind.NOTICE, Kind.REMINDER, Kind.REPLY, Kind.RESULT})
SCHOOL_KINDS = frozenset(
    {
        Kind.SCHOOL_PACKAGE,
        Kind.SCHOOL_REMINDER,
        Kind.SCHOOL_HEARING,
        Kind.SCHOOL_COPY,
        Kind.SCHOOL_NOTICE,
    }
)
# Only these mean the person is out of reach; an outage or a bad message does not.
GONE = frozenset({Undeliverable.BLOCKED, Undeliverable.CHAT_NOT_FOUND})
SCHOOL_WEBHOOK = "webhook:school:"  # the destination name of a school's webhook


def still_worth_sending(
    kind: str, status: CaseStatus | None, deadline: datetime | None, now: datetime
) -> bool:
    """Whether a message that used up its attempts should keep trying.

    A notice is the guardian's only word that the state wrote to them: it is worth
    sending until the case expires or is decided. A package (or reminder) to a school
    is worth it until the school's deadline; after that the case is overdue and
    escalated anyway. Every other message gives up after its attempts.
    """
    if status is None or status in FINAL_STATUSES:
        return False
    if kind == Kind.NOTICE:
        return True
    if kind in SCHOOL_KINDS:
        return deadline is None or now < deadline
    return False


class CaseDeliveryEffects:
    """The real `DeliveryHooks` of the application: besides what sending touches
    (`Delivering`), the texts of the messages it adds and where a guardian's new link
    points."""

    def __init__(self, delivering: Delivering, texts: Texts, links: GuardianLinks) -> None:
        self._delivering = delivering
        self._texts = texts
        self._links = links

    async def delivered(
        self, session: AsyncSession, row: OutboxMessage, message_id: int | None
    ) -> None:
        if row.case_id is None or row.kind not in (Kind.NOTICE, Kind.SCHOOL_PACKAGE):
            return
        case = await lock_case(session, row.case_id)
        if case is None:
            return
        now = self._delivering.clock.now()
        status = CaseStatus(case.status)
        if row.kind == Kind.NOTICE and status in (CaseStatus.RECEIVED, CaseStatus.AWAITING_LINK):
            apply_event(session, case, CaseEvent.NOTICE_SENT, actor="system", now=now)
            case.notified_at = now
        elif row.kind == Kind.SCHOOL_PACKAGE and status is CaseStatus.SUBMITTED:
            apply_event(
                session,
                case,
                CaseEvent.DELIVERED_TO_SCHOOL,
                actor="system",
                now=now,
                details={"channel": row.channel},
            )
            case.forwarded_at = now

    async def undeliverable(self, session: AsyncSession, row: OutboxMessage, reason: str) -> None:
        """A guardian who blocked the bot is marked unreachable and, if possible, gets an
        SMS with a fresh link; a school inbox that fails is escalated to the authority."""
        if row.channel == Channel.TELEGRAM and row.kind in GUARDIAN_KINDS:
            if reason in GONE:
                await self._guardian_unreachable(session, row)
            else:
                log.error("message to guardian is dead: %s", reason, extra={"case_id": row.case_id})
        elif row.kind in SCHOOL_KINDS and row.case_id is not None:
            await self._escalate(session, row.case_id, reason)

    async def still_needed(self, kind: str, case_id: str | None) -> bool:
        if case_id is None:
            return False
        async with self._delivering.sessions() as session:
            case = await session.get(Case, case_id)
        if case is None:
            return False
        status = CaseStatus(case.status)
        return still_worth_sending(kind, status, case.deadline_at, self._delivering.clock.now())

    async def channel_down(self, session: AsyncSession, destination: str, down_s: float) -> None:
        """A school's server down for long goes to the authority's escalation chat; the
        Bot API or the SMS gateway down is the operator's (this log line and
        `homeschool_channel_up`), as no chat can be reached through it."""
        minutes = max(1, round(down_s / 60))
        if not destination.startswith(SCHOOL_WEBHOOK):
            log.error("escalation: %s has been unreachable for %d min", destination, minutes)
            return
        delivering, now = self._delivering, self._delivering.clock.now()
        school = await session.get(School, int(destination.removeprefix(SCHOOL_WEBHOOK)))
        if school is None or school.escalation_chat_id is None:
            log.error(
                "escalation: %s unreachable for %d min, no escalation chat", destination, minutes
            )
            return
        lang = staff_language(school)
        text = self._texts(
            lang, "escalation.school_unreachable", school_bin=school.bin, minutes=minutes
        )
        message = text_message(
            f"escalation:outage:{destination}:{await _oldest_waiting(session, school)}",
            Kind.ESCALATION,
            school.escalation_chat_id,
            text,
        )
        await enqueue(session, delivering.cipher, now, message)
        log.error("escalation: %s has been unreachable for %d min", destination, minutes)

    async def _guardian_unreachable(self, session: AsyncSession, row: OutboxMessage) -> None:
        delivering = self._delivering
        result = await session.execute(
            select(Guardian).where(Guardian.chat_id == int(row.recipient))
        )
        guardian = result.scalars().first()
        if guardian is None or guardian.unreachable_at is not None:
            return
        now = delivering.clock.now()
        guardian.unreachable_at = now
        log.warning("guardian unreachable in Telegram", extra={"case_id": row.case_id})
        if not (delivering.sms_gateway_url and row.case_id and guardian.pd_enc):
            return
        link = guardian_link(self._links, row.case_id, now)
        if link is None:
            return
        session.add(LinkToken(**link.token))
        phone = delivering.cipher.decrypt_json(guardian.pd_enc)["phone"]
        sms_key = "sms.result" if row.kind == Kind.RESULT else "sms.link"
        sms = OutgoingMessage(
            dedupe_key=f"sms_fallback:{row.id}",
            kind=Kind.SMS_LINK,
            payload=SmsPayload(
                phone=phone, text=self._texts(guardian_lang(guardian), sms_key, link=link.url)
            ),
            case_id=row.case_id,
            not_before=next_daytime(now),
        )
        await enqueue(session, delivering.cipher, now, sms)

    async def _escalate(self, session: AsyncSession, case_id: str, reason: str) -> None:
        texts = self._texts
        case = await session.get(Case, case_id)
        school = await session.get(School, case.school_id) if case and case.school_id else None
        if school is None or school.escalation_chat_id is None:
            log.error(
                "school inbox failed and no escalation chat: %s", reason, extra={"case_id": case_id}
            )
            return
        lang = staff_language(school)
        text = texts(
            lang,
            "escalation.undeliverable",
            case_number=case_number(case_id),
            school_bin=school.bin,
            reason=texts(lang, f"undeliverable.{reason}"),
        )
        message = text_message(
            f"escalation:undeliverable:{case_id}",
            Kind.ESCALATION,
            school.escalation_chat_id,
            text,
            case_id=case_id,
        )
        await enqueue(session, self._delivering.cipher, self._delivering.clock.now(), message)


async def _oldest_waiting(session: AsyncSession, school: School) -> int | None:
    """The oldest row waiting for the school's server names the outage in the dedupe
    key: a replica that takes over as sender and times the outage afresh escalates the
    same outage under the same key, so the authority hears of it once."""
    waiting = OutboxMessage.status.in_(("pending", "retry", "sending"))
    query = select(func.min(OutboxMessage.id)).where(
        OutboxMessage.channel == Channel.WEBHOOK,
        OutboxMessage.recipient == f"school:{school.id}",
        waiting,
    )
    return (await session.execute(query)).scalar_one()
