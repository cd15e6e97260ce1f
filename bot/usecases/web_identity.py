"""Who a browser is: one-time SMS codes and sessions, for the school's and the guardian's pages.

A code is 6 digits, valid 10 minutes, sent through the outbox's SMS channel at once
(it answers the person's own request, so no quiet hours). Five wrong answers lock the
subject for an hour: the attempts of re-sent codes add up, so asking for a new code
never buys new guesses. The browser that asked holds a random challenge token in a
cookie; only its SHA-256, and the code's keyed hash, are stored. A session is a random
token in a cookie, stored as its SHA-256, and ends at its fixed lifetime.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.timing import local_time
from bot.errors import DomainError
from bot.runtime import Services
from bot.texts import Lang
from storage.models import SignInCode
from storage.outbox import Kind, OutgoingMessage, SmsPayload, enqueue
from storage.repositories.tokens import token_hash
from storage.repositories.web_sessions import (
    add_sign_in_code,
    add_web_session,
    lock_sign_in_challenge,
    lock_sign_in_code,
)

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
LOCK_TIME = timedelta(hours=1)
RESEND_AFTER = timedelta(seconds=60)


class CodeCheck(StrEnum):
    """How an answer to a code came out; only `OK` lets the browser in."""

    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"


@dataclass(frozen=True)
class CodeAnswer:
    outcome: CodeCheck
    subject: str | None = None
    locked_until: datetime | None = None
    attempts_left: int = 0


def new_token() -> str:
    """A random token for a cookie (challenge or session): 256 bits."""
    return secrets.token_urlsafe(32)


def _code_hash(svc: Services, subject: str, code: str) -> str:
    """Keyed, so a leaked table does not give the code away by trying a million digests."""
    return svc.cipher.blind_index(f"sign-in-code:{subject}:{code}")


def locked_error(svc: Services, until: datetime) -> DomainError:
    return DomainError("web.code_locked", "sign-in locked", until=local_time(until, svc.clock.zone))


async def send_code(
    session: AsyncSession, svc: Services, subject: str, phone: str | None, lang: Lang
) -> str:
    """Send a new code to `phone` for `subject` (in the caller's transaction); return the
    browser's challenge token. A code sent less than a minute ago is not sent again, but
    the new challenge points at it. Raises the lock as a DomainError.

    Without a phone the code is made and kept but goes nowhere: a subject nobody owns
    answers exactly like a real one."""
    now = svc.clock.now()
    row = await lock_sign_in_code(session, subject) or add_sign_in_code(
        session, subject=subject, now=now
    )
    _unlock_if_due(row, now)
    if row.locked_until is not None:
        raise locked_error(svc, row.locked_until)
    challenge = new_token()
    row.challenge_hash = token_hash(challenge)
    recent = row.sent_at is not None and now - row.sent_at < RESEND_AFTER
    if recent and row.code_hash is not None and row.expires_at and row.expires_at > now:
        return challenge
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row.code_hash = _code_hash(svc, subject, code)
    row.expires_at = now + CODE_TTL
    row.sent_at = now
    await session.flush()
    if phone is None:
        return challenge
    sms = OutgoingMessage(
        dedupe_key=f"sign_in:{row.id}:{now.isoformat()}",
        kind=Kind.SIGN_IN_CODE,
        payload=SmsPayload(
            phone=phone,
            text=svc.texts(lang, "web.sms_code", code=code, minutes=CODE_TTL.seconds // 60),
        ),
    )
    await enqueue(session, svc.cipher, now, sms)
    if not svc.settings.SMS_GATEWAY_URL:
        log.warning("a sign-in code was asked for, but SMS_GATEWAY_URL is not set")
    return challenge


async def check_code(svc: Services, challenge: str, code: str) -> CodeAnswer:
    """Compare the answer with the code the challenge points at; count a wrong one.

    The count is committed whatever the outcome, so the caller decides what to show.
    A used code is gone, so replaying it is a wrong answer like any other.
    """
    async with svc.sessions.begin() as session:
        row = await lock_sign_in_challenge(session, challenge)
        now = svc.clock.now()
        if row is None:
            return CodeAnswer(CodeCheck.EXPIRED)
        _unlock_if_due(row, now)
        if row.locked_until is not None:
            return CodeAnswer(CodeCheck.LOCKED, row.subject, row.locked_until)
        if row.code_hash is None or row.expires_at is None or row.expires_at <= now:
            return CodeAnswer(CodeCheck.EXPIRED, row.subject)
        given = code.strip()
        if hmac.compare_digest(_code_hash(svc, row.subject, given), row.code_hash):
            row.code_hash = row.challenge_hash = row.expires_at = None
            row.attempts = 0
            return CodeAnswer(CodeCheck.OK, row.subject)
        row.attempts += 1
        if row.attempts >= MAX_ATTEMPTS:
            row.locked_until = now + LOCK_TIME
            row.code_hash = row.expires_at = None
            log.warning("sign-in locked after %d wrong codes", row.attempts)
            return CodeAnswer(CodeCheck.LOCKED, row.subject, row.locked_until)
        return CodeAnswer(CodeCheck.WRONG, row.subject, attempts_left=MAX_ATTEMPTS - row.attempts)


def _unlock_if_due(row: SignInCode, now: datetime) -> None:
    if row.locked_until is not None and row.locked_until <= now:
        row.locked_until = None
        row.attempts = 0


def open_session(
    session: AsyncSession,
    svc: Services,
    audience: str,
    lifetime: timedelta,
    *,
    staff_id: int | None = None,
    case_id: str | None = None,
) -> str:
    """Queue a session row in the caller's transaction; return the cookie's token."""
    raw = new_token()
    now = svc.clock.now()
    add_web_session(
        session,
        raw_token=raw,
        audience=audience,
        now=now,
        expires_at=now + lifetime,
        staff_id=staff_id,
        case_id=case_id,
    )
    return raw
