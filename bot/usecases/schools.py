"""School inboxes and keys: invite codes, `/link CODE`, decision-API keys."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.identifiers import bin_problem
from bot.errors import DomainError, NotFound
from bot.runtime import Services
from storage.models import School
from storage.repositories.audit import add_audit_event
from storage.repositories.schools import (
    add_staff_chat,
    get_school,
    get_school_by_bin,
    get_staff_chat,
)
from storage.repositories.tokens import add_link_token, lock_link_token, token_hash

log = logging.getLogger(__name__)

CLI_ACTOR = "cli"
INVITE_PURPOSE = "school_invite"
INVITE_TTL = timedelta(hours=72)
# Crockford base32: no I, L, O, U, so a code read aloud or typed on a phone is unambiguous;
# 12 symbols = 60 bits, beyond brute force of the stored SHA-256 within the 72 h of validity.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_LENGTH = 12
_CODE_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def audit_cli(session: AsyncSession, now: datetime, event: str, details: dict[str, Any]) -> None:
    add_audit_event(session, case_id=None, at=now, actor=CLI_ACTOR, event=event, details=details)


# --- invite codes and /link ------------------------------------------------------------


@dataclass(frozen=True)
class SchoolInvite:
    code: str
    school_bin: str
    school_name: str
    expires_at: datetime


class LinkOutcome(StrEnum):
    LINKED = "linked"
    ALREADY_LINKED = "already_linked"
    UNKNOWN_CODE = "unknown_code"
    EXPIRED = "expired"
    USED = "used"
    CHAT_TAKEN = "chat_taken"


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    school_name_kk: str | None = None
    school_name_ru: str | None = None

    @property
    def linked(self) -> bool:
        return self.outcome in (LinkOutcome.LINKED, LinkOutcome.ALREADY_LINKED)


def normalize_invite_code(code: str) -> str:
    """Return the code as stored: upper case, no separators, lookalike letters folded."""
    return re.sub(r"[\s\-]", "", code).upper().translate(_CODE_LOOKALIKES)


def _new_invite_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))


def _display_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


async def create_school_invite(svc: Services, bin_: str) -> SchoolInvite:
    """Store a one-time invite code (only its hash) valid for 72 hours, and return it."""
    code = _new_invite_code()
    async with svc.sessions.begin() as session:
        school = await require_school(session, bin_)
        now = svc.clock.now()
        expires_at = now + INVITE_TTL
        add_link_token(
            session,
            raw=code,
            purpose=INVITE_PURPOSE,
            school_id=school.id,
            expires_at=expires_at,
            now=now,
        )
        audit_cli(session, now, "school_invite_created", {"school_id": school.id})
    return SchoolInvite(_display_code(code), school.bin, school_name(school), expires_at)


async def link_staff_chat(svc: Services, code: str, chat_id: int, user_id: int) -> LinkResult:
    """Redeem an invite code: make `chat_id` an inbox of the code's school.

    The code is used once; a chat that is already another school's inbox is refused
    without using up the code. A concurrent link of the same chat trips the unique
    chat id; the retry then sees the stored chat and answers accordingly.
    """
    raw = normalize_invite_code(code)
    if not raw:
        return LinkResult(LinkOutcome.UNKNOWN_CODE)
    try:
        result = await _redeem_invite(svc, raw, chat_id, user_id)
    except IntegrityError:
        result = await _redeem_invite(svc, raw, chat_id, user_id)
    if not result.linked:
        log.info("invite code refused: %s", result.outcome.value)
    return result


async def _redeem_invite(svc: Services, raw: str, chat_id: int, user_id: int) -> LinkResult:
    async with svc.sessions.begin() as session:
        return await _redeem_in(session, svc.clock.now(), raw, chat_id, user_id)


async def _redeem_in(
    session: AsyncSession, now: datetime, raw: str, chat_id: int, user_id: int
) -> LinkResult:
    token = await lock_link_token(session, raw, INVITE_PURPOSE)
    school = await get_school(session, token.school_id) if token and token.school_id else None
    if token is None or school is None:
        return LinkResult(LinkOutcome.UNKNOWN_CODE)
    if token.used_at is not None:
        return LinkResult(LinkOutcome.USED)
    if token.expires_at <= now:
        return LinkResult(LinkOutcome.EXPIRED)
    existing = await get_staff_chat(session, chat_id)
    if existing is not None and existing.school_id != school.id:
        return LinkResult(LinkOutcome.CHAT_TAKEN)
    token.used_at = now
    if existing is None:
        add_staff_chat(
            session, school_id=school.id, chat_id=chat_id, linked_by_user_id=user_id, now=now
        )
    add_audit_event(
        session,
        case_id=None,
        at=now,
        actor=f"telegram:{user_id}",
        event="staff_chat_linked",
        details={
            "school_id": school.id,
            "chat_id": chat_id,
            "already_linked": existing is not None,
        },
    )
    outcome = LinkOutcome.LINKED if existing is None else LinkOutcome.ALREADY_LINKED
    return LinkResult(outcome, school.name_kk or school.name_ru, school.name_ru or school.name_kk)


# --- decision-API keys -----------------------------------------------------------------


@dataclass(frozen=True)
class IssuedApiKey:
    key: str
    school_bin: str
    school_name: str


async def issue_school_api_key(svc: Services, bin_: str) -> IssuedApiKey:
    """Replace the school's decision-API key with a new one; only its hash is kept."""
    key = secrets.token_urlsafe(32)
    async with svc.sessions.begin() as session:
        school = await require_school(session, bin_)
        now = svc.clock.now()
        replaced = school.api_key_hash is not None
        school.api_key_hash = token_hash(key)
        school.updated_at = now
        details = {"school_id": school.id, "replaced": replaced}
        audit_cli(session, now, "school_api_key_issued", details)
    return IssuedApiKey(key, school.bin, school_name(school))


def school_name(school: School) -> str:
    """The name to show an operator: Russian, else Kazakh, else the BIN."""
    return school.name_ru or school.name_kk or school.bin


async def require_school(session: AsyncSession, bin_: str) -> School:
    problem = bin_problem(bin_)
    if problem is not None:
        raise DomainError("school.bad_bin", f"{bin_}: {problem}")
    school = await get_school_by_bin(session, bin_)
    if school is None:
        raise NotFound("school.unknown", f"no school with BIN {bin_} in the registry")
    return school
