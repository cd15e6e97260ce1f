"""The school registry import (`schools import FILE.csv`, DESIGN 4.1): check, then upsert."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.identifiers import bin_problem
from bot.runtime import Services
from bot.usecases.schools import audit_cli
from storage.models import School, StaffChat
from storage.repositories.schools import (
    add_staff_chat,
    get_school,
    map_schools_by_bin,
    map_staff_chats,
    replace_school_words,
)

_CHAT_ID = re.compile(r"^-?[0-9]{1,16}$")

REGISTRY_COLUMNS = (
    "bin",
    "name_kk",
    "name_ru",
    "authority_kk",
    "authority_ru",
    "locality",
    "telegram_chat_id",
    "webhook_url",
    "webhook_secret",
    "escalation_chat_id",
)
_TEXT_COLUMNS = ("name_kk", "name_ru", "authority_kk", "authority_ru", "locality")


@dataclass(frozen=True)
class RegistryLine:
    """One data line of a registry file: where it starts and its cells by column name.

    `extra_values` counts cells beyond the header's columns; such a line is refused
    rather than guessed at.
    """

    number: int
    cells: Mapping[str, str]
    extra_values: int = 0


@dataclass(frozen=True)
class Rejection:
    line: int
    bin: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}: bin {self.bin}" if self.bin else f"line {self.line}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated


@dataclass(frozen=True)
class _SchoolRow:
    line: int
    bin: str
    fields: dict[str, object]
    telegram_chat_id: int | None


def registry_header_problem(columns: Sequence[str]) -> str | None:
    """Explain what is wrong with a registry header, or return None when it is usable."""
    unknown = [c for c in columns if c not in REGISTRY_COLUMNS]
    if unknown:
        return f"unknown columns {', '.join(unknown)}; allowed: {', '.join(REGISTRY_COLUMNS)}"
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        return f"columns appear more than once: {', '.join(repeated)}"
    if "bin" not in columns:
        return "the header has no bin column"
    if "name_kk" not in columns and "name_ru" not in columns:
        return "the header needs a name_kk or a name_ru column"
    return None


def _check_line(line: RegistryLine) -> _SchoolRow | Rejection:
    """Validate one line on its own (no database): BIN, name, chat ids, webhook."""
    cells = {name: value.strip() for name, value in line.cells.items()}
    bin_ = cells.get("bin", "")
    problem = bin_problem(bin_) if bin_ else "bin is empty"
    if line.extra_values:
        problem = f"{line.extra_values} more value(s) than the header has columns"
    if problem is None and not (cells.get("name_kk") or cells.get("name_ru")):
        problem = "no name: fill name_kk or name_ru"
    fields: dict[str, object] = {c: cells[c] or None for c in _TEXT_COLUMNS if c in cells}
    chat_ids: dict[str, int | None] = {}
    for column in ("telegram_chat_id", "escalation_chat_id"):
        raw = cells.get(column, "")
        if problem is None and raw and (not _CHAT_ID.match(raw) or int(raw) == 0):
            problem = f"{column} {raw!r} is not a Telegram chat id (an integer, may be negative)"
        chat_ids[column] = int(raw) if raw and problem is None else None
    if "escalation_chat_id" in cells:
        fields["escalation_chat_id"] = chat_ids["escalation_chat_id"]
    problem = problem or _webhook_problem(cells, fields)
    if problem is not None:
        return Rejection(line.number, bin_, problem)
    return _SchoolRow(line.number, bin_, fields, chat_ids["telegram_chat_id"])


def _webhook_problem(cells: Mapping[str, str], fields: dict[str, object]) -> str | None:
    """Check the webhook pair and put it into `fields` (secret still in clear text)."""
    url, secret = cells.get("webhook_url", ""), cells.get("webhook_secret", "")
    if url:
        if not _is_http_url(url):
            return "webhook_url must be an http:// or https:// address"
        if not secret:
            return "webhook_secret is required when webhook_url is given"
    elif secret:
        return "webhook_secret is given without webhook_url"
    if "webhook_url" in cells:
        fields["webhook_url"] = url or None
        fields["webhook_secret"] = secret or None
    return None


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket or a bad port
        return False


def _check_lines(lines: Sequence[RegistryLine]) -> tuple[list[_SchoolRow], list[Rejection]]:
    """Validate every line; a BIN or staff chat repeated in the file keeps its first line."""
    rows: list[_SchoolRow] = []
    rejections: list[Rejection] = []
    bin_lines: dict[str, int] = {}
    chat_lines: dict[int, int] = {}
    for line in lines:
        checked = _check_line(line)
        if isinstance(checked, Rejection):
            rejections.append(checked)
        elif checked.bin in bin_lines:
            reason = f"repeats line {bin_lines[checked.bin]}; each school once per file"
            rejections.append(Rejection(line.number, checked.bin, reason))
        elif checked.telegram_chat_id in chat_lines:
            reason = (
                f"telegram_chat_id {checked.telegram_chat_id} is already used on line "
                f"{chat_lines[checked.telegram_chat_id]} for another school"
            )
            rejections.append(Rejection(line.number, checked.bin, reason))
        else:
            bin_lines[checked.bin] = line.number
            if checked.telegram_chat_id is not None:
                chat_lines[checked.telegram_chat_id] = line.number
            rows.append(checked)
    return rows, rejections


async def import_school_registry(svc: Services, lines: Sequence[RegistryLine]) -> ImportReport:
    """Upsert the valid lines by BIN in one transaction; report the others by line.

    A line is refused when its staff chat is already another school's inbox: moving an
    inbox silently would send that school's cases to strangers.
    """
    rows, rejections = _check_lines(lines)
    async with svc.sessions.begin() as session:
        now = svc.clock.now()
        schools = await map_schools_by_bin(session, (row.bin for row in rows))
        chats = await map_staff_chats(
            session, (r.telegram_chat_id for r in rows if r.telegram_chat_id is not None)
        )
        rows = await _drop_taken_chats(session, rows, schools, chats, rejections)
        created = await _upsert_schools(svc, session, rows, schools, now)
        for row in rows:
            if row.telegram_chat_id is not None and row.telegram_chat_id not in chats:
                school_id = schools[row.bin].id
                add_staff_chat(session, school_id=school_id, chat_id=row.telegram_chat_id, now=now)
        if rows:
            details = {"created": created, "updated": len(rows) - created}
            audit_cli(session, now, "schools_imported", details | {"rejected": len(rejections)})
    rejections.sort(key=lambda r: r.line)
    return ImportReport(created=created, updated=len(rows) - created, rejections=rejections)


async def _upsert_schools(
    svc: Services,
    session: AsyncSession,
    rows: Sequence[_SchoolRow],
    schools: dict[str, School],
    now: datetime,
) -> int:
    """Write every row into `schools` (new ones added); return how many were new."""
    created = 0
    for row in rows:
        school = schools.get(row.bin)
        if school is None:
            school = schools[row.bin] = School(bin=row.bin, created_at=now)
            session.add(school)
            created += 1
        for name, value in row.fields.items():
            if name == "webhook_secret":
                school.webhook_secret_enc = svc.cipher.encrypt_text(str(value)) if value else None
            else:
                setattr(school, name, value)
        school.updated_at = now
    await session.flush()
    await replace_school_words(session, list({row.bin: schools[row.bin] for row in rows}.values()))
    return created


async def _drop_taken_chats(
    session: AsyncSession,
    rows: list[_SchoolRow],
    schools: Mapping[str, School],
    chats: Mapping[int, StaffChat],
    rejections: list[Rejection],
) -> list[_SchoolRow]:
    """Reject rows whose telegram_chat_id is stored as another school's inbox."""
    kept: list[_SchoolRow] = []
    for row in rows:
        chat = chats.get(row.telegram_chat_id) if row.telegram_chat_id is not None else None
        own = schools.get(row.bin)
        if chat is not None and (own is None or chat.school_id != own.id):
            other = await get_school(session, chat.school_id)
            owner = other.bin if other is not None else f"#{chat.school_id}"
            reason = f"telegram_chat_id {row.telegram_chat_id} is the inbox of school {owner}"
            rejections.append(Rejection(row.line, row.bin, reason))
        else:
            kept.append(row)
    return kept
