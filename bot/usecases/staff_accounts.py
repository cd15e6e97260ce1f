"""Staff accounts of the web inbox: `schools staff add|remove|list`, sign-in, the session.

A staff member signs in at `/school` with their phone and a one-time SMS code and sees
their own school's cases; an authority account (`--authority`) sees, read-only, the
overdue cases of every school under the same local education authority. The phone
is found by its blind index; name and phone are stored encrypted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.identifiers import normalize_kz_mobile
from bot.errors import DomainError
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.case_views import school_name
from bot.usecases.schools import audit_cli, require_school
from bot.usecases.web_identity import (
    CodeAnswer,
    CodeCheck,
    check_code,
    locked_error,
    open_session,
    send_code,
)
from storage.models import School, StaffAccount
from storage.repositories.schools import get_school
from storage.repositories.web_accounts import (
    add_staff_account,
    end_sessions_of_staff,
    get_signed_in_staff,
    get_staff_account,
    get_staff_by_phone,
    list_staff_accounts,
)
from storage.repositories.web_sessions import end_expired_sessions, end_session

log = logging.getLogger(__name__)

STAFF_SESSION = timedelta(hours=8)
SCHOOL_AUDIENCE = "school"
NAME_MIN, NAME_MAX = 2, 200


@dataclass(frozen=True)
class StaffMember:
    """A signed-in account as the pages and use cases need it."""

    id: int
    school_id: int
    role: str
    name: str
    school_names: Mapping[Lang, str]

    def school(self, lang: Lang) -> str:
        """The name of the member's school, for the page header."""
        return self.school_names[lang]

    @property
    def read_only(self) -> bool:
        return self.role == "authority"

    @property
    def label(self) -> str:
        """The audit trail's actor: the account, whose row keeps the name."""
        return f"web:staff:{self.id}"


@dataclass(frozen=True)
class StaffListing:
    id: int
    role: str
    name: str
    phone: str
    created_at: datetime


def _phone(raw: str) -> str:
    phone = normalize_kz_mobile(raw)
    if phone is None:
        raise DomainError("web.phone_bad", f"{raw!r} is not a Kazakh mobile number")
    return phone


def _member(svc: Services, account: StaffAccount, school: School) -> StaffMember:
    pd = svc.cipher.decrypt_json(account.pd_enc)
    names = {lang: school_name(school, lang) or school.bin for lang in Lang}
    return StaffMember(account.id, account.school_id, account.role, pd["name"], names)


async def add_staff(
    svc: Services, bin_: str, name: str, raw_phone: str, *, authority: bool = False
) -> tuple[StaffListing, School]:
    """Give a person an account at the school (or, with `authority`, its authority).

    A phone belongs to one account: a removed one is given back under the new name and
    school; one still active elsewhere is refused, so nobody sees two schools' cases.
    """
    phone, name = _phone(raw_phone), " ".join(name.split())
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise DomainError("web.name_bad", f"the name must have {NAME_MIN}-{NAME_MAX} characters")
    role = "authority" if authority else "staff"
    async with svc.sessions.begin() as session:
        school = await require_school(session, bin_)
        now = svc.clock.now()
        account = await get_staff_by_phone(session, svc.cipher.blind_indexes(phone))
        pd_enc = svc.cipher.encrypt_json({"name": name, "phone": phone})
        if account is not None and account.removed_at is None:
            taken = await get_school(session, account.school_id)
            where = taken.bin if taken else "?"
            raise DomainError("web.phone_taken", f"{phone} already has an account (school {where})")
        if account is None:
            account = add_staff_account(
                session,
                school_id=school.id,
                role=role,
                phone_hash=svc.cipher.blind_index(phone),
                pd_enc=pd_enc,
                now=now,
            )
        else:
            account.school_id, account.role, account.pd_enc = school.id, role, pd_enc
            account.phone_hash, account.removed_at, account.created_at = (
                svc.cipher.blind_index(phone),
                None,
                now,
            )
        await session.flush()
        details = {"school_id": school.id, "staff_id": account.id, "role": role}
        audit_cli(session, now, "staff_account_added", details)
    return StaffListing(account.id, role, name, phone, now), school


async def remove_staff(svc: Services, bin_: str, raw_phone: str) -> StaffListing:
    """End an account of the school and every session it has: the next page it asks
    for is the sign-in page."""
    phone = _phone(raw_phone)
    async with svc.sessions.begin() as session:
        school = await require_school(session, bin_)
        account = await get_staff_by_phone(session, svc.cipher.blind_indexes(phone))
        if account is None or account.removed_at is not None or account.school_id != school.id:
            raise DomainError("web.staff_unknown", f"{phone} has no account at school {bin_}")
        now = svc.clock.now()
        account.removed_at = now
        await end_sessions_of_staff(session, account.id)
        details = {"school_id": school.id, "staff_id": account.id}
        audit_cli(session, now, "staff_account_removed", details)
        name = svc.cipher.decrypt_json(account.pd_enc)["name"]
    return StaffListing(account.id, account.role, name, phone, account.created_at)


async def list_staff(svc: Services, bin_: str) -> tuple[School, list[StaffListing]]:
    """The school's current accounts, oldest first."""
    async with svc.sessions() as session:
        school = await require_school(session, bin_)
        accounts = await list_staff_accounts(session, school.id)
    listings = []
    for account in accounts:
        pd = svc.cipher.decrypt_json(account.pd_enc)
        listings.append(
            StaffListing(account.id, account.role, pd["name"], pd["phone"], account.created_at)
        )
    return school, listings


async def request_sign_in(svc: Services, raw_phone: str, lang: Lang) -> str:
    """Send a code if the phone has an account; return the challenge token either way.

    Whether the phone is known is not told: an unknown one gets a code that is never
    sent, with the same attempts and lock, so every answer reads the same.
    """
    phone = _phone(raw_phone)
    async with svc.sessions.begin() as session:
        account = await get_staff_by_phone(session, svc.cipher.blind_indexes(phone))
        if account is None or account.removed_at is not None:
            log.info("sign-in code asked for a phone without an account")
            nobody = f"nobody:{svc.cipher.blind_index(phone)[:32]}"
            return await send_code(session, svc, nobody, None, lang)
        return await send_code(session, svc, f"staff:{account.id}", phone, lang)


async def confirm_sign_in(svc: Services, challenge: str, code: str) -> str:
    """Check the code; on success open an 8-hour session and return its cookie token."""
    answer = await check_code(svc, challenge, code)
    raise_unless_ok(svc, answer)
    assert answer.subject is not None
    staff_id = int(answer.subject.removeprefix("staff:"))
    async with svc.sessions.begin() as session:
        now = svc.clock.now()
        account = await get_staff_account(session, staff_id)
        if account is None or account.removed_at is not None:
            raise DomainError("web.code_expired", "the account was removed meanwhile")
        await end_expired_sessions(session, now)
        return open_session(session, svc, SCHOOL_AUDIENCE, STAFF_SESSION, staff_id=account.id)


def raise_unless_ok(svc: Services, answer: CodeAnswer) -> None:
    """Turn any answer but OK into the page's message (locked, expired, wrong)."""
    if answer.outcome is CodeCheck.LOCKED:
        assert answer.locked_until is not None
        raise locked_error(svc, answer.locked_until)
    if answer.outcome is CodeCheck.EXPIRED:
        raise DomainError("web.code_expired", "no code waits for this browser")
    if answer.outcome is CodeCheck.WRONG:
        raise DomainError("web.code_wrong", "wrong code", attempts=answer.attempts_left)


async def staff_of_session(svc: Services, token: str) -> StaffMember | None:
    """The account signed in with this cookie token, unless it ended or was removed."""
    async with svc.sessions() as session:
        found = await get_signed_in_staff(session, token, SCHOOL_AUDIENCE, svc.clock.now())
    if found is None:
        return None
    account, school = found
    return _member(svc, account, school)


async def sign_out(svc: Services, token: str) -> None:
    async with svc.sessions.begin() as session:
        await end_session(session, token)
