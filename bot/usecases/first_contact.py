"""How the state first reaches a guardian about a new case.

Linked guardian (their phone is tied to a Telegram chat): the notice goes out through
the outbox, in daytime only. Unlinked: the case waits in `awaiting_link` for the
guardian to open the bot and share their phone; if an SMS gateway is configured and
the bot is known, an SMS carries a one-time deep link.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.domain.status import CaseEvent, CaseStatus
from bot.domain.timing import next_daytime
from bot.runtime import GuardianLinks, Opening
from bot.texts import Lang
from bot.usecases.case_views import CaseView
from bot.usecases.lifecycle import transition
from bot.usecases.notices import notice_message
from storage.outbox import Kind, OutgoingMessage, SmsPayload
from storage.repositories.tokens import link_token_row, new_link_token

LINK_TOKEN_TTL = timedelta(days=7)
GUARDIAN_PURPOSE = "guardian"


@dataclass(frozen=True)
class GuardianRef:
    id: int
    chat_id: int | None
    language: Lang
    reachable: bool

    @property
    def linked(self) -> bool:
        return self.chat_id is not None and self.reachable


@dataclass
class FirstContact:
    """What opening a case adds to the transaction besides the case itself."""

    status: CaseStatus = CaseStatus.RECEIVED
    audit: list[dict[str, Any]] = field(default_factory=list)
    messages: list[OutgoingMessage] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)


def notice_dedupe_key(case_id: str, chat_id: int) -> str:
    return f"notice:{case_id}:{chat_id}"


def plan_first_contact(
    opening: Opening, view: CaseView, guardian: GuardianRef, guardian_phone: str, now: datetime
) -> FirstContact:
    """Decide the first contact for a case opened at `now` (status received)."""
    plan = FirstContact()
    if guardian.linked:
        assert guardian.chat_id is not None
        notice = notice_message(
            opening.texts,
            opening.retention_days,
            guardian.language,
            view,
            guardian.chat_id,
            notice_dedupe_key(view.case_id, guardian.chat_id),
            Kind.NOTICE,
        )
        plan.messages.append(_in_daytime(notice, now))
        return plan
    plan.status, audit = transition(
        CaseStatus.RECEIVED,
        CaseEvent.GUARDIAN_UNLINKED,
        case_id=view.case_id,
        actor="system",
        now=now,
    )
    plan.audit.append(audit)
    links = opening.links
    link = guardian_link(links, view.case_id, now) if opening.sms_gateway_url else None
    if link is not None:
        plan.tokens.append(link.token)
        text = opening.texts(guardian.language, "sms.link", link=link.url)
        sms = OutgoingMessage(
            dedupe_key=f"sms_link:{view.case_id}",
            kind=Kind.SMS_LINK,
            payload=SmsPayload(phone=guardian_phone, text=text),
            case_id=view.case_id,
        )
        plan.messages.append(_in_daytime(sms, now))
    return plan


@dataclass(frozen=True)
class GuardianLink:
    """A one-time deep link into the bot for a case's guardian, and its token row."""

    url: str
    token: dict[str, Any]


def guardian_link(links: GuardianLinks, case_id: str, now: datetime) -> GuardianLink | None:
    """A fresh link valid for `LINK_TOKEN_TTL`: the web page `PUBLIC_BASE_URL/a/<token>`,
    which also offers the Telegram deep link, or the deep link alone where no pages are
    served; None while neither is known.

    Only the token's hash is stored: the link itself exists only in the message.
    """
    raw = new_link_token()
    base = links.public_base_url
    url = f"{base}/a/{raw}" if base else links.bot_profile.deep_link(raw)
    if url is None:
        return None
    row = link_token_row(
        raw=raw, purpose=GUARDIAN_PURPOSE, case_id=case_id, expires_at=now + LINK_TOKEN_TTL,
        now=now,
    )  # fmt: skip
    return GuardianLink(url, row)


def _in_daytime(message: OutgoingMessage, now: datetime) -> OutgoingMessage:
    return replace(message, not_before=next_daytime(now))
