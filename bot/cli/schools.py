"""`homeschool-bot schools import|invite|key`: file reading, running, printing.

Their arguments are declared in `bot.cli`, which imports this module only to run one.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from pathlib import Path

from bot.assembly import open_services
from bot.errors import DomainError
from bot.runtime import Services
from bot.settings import Settings
from bot.usecases.registry import (
    ImportReport,
    RegistryLine,
    import_school_registry,
    registry_header_problem,
)
from bot.usecases.schools import create_school_invite, issue_school_api_key


class RegistryFileError(Exception):
    """The file cannot be read as a registry at all (exit code 2)."""


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Run `schools import|invite|key` and return the process exit code."""
    lines: list[RegistryLine] = []
    if args.schools_action == "import":
        try:
            lines = read_registry(args.file)
        except RegistryFileError as exc:
            _err(f"homeschool-bot: {exc}")
            return 2
    return asyncio.run(_run(args, settings, lines))


async def _run(args: argparse.Namespace, settings: Settings, lines: list[RegistryLine]) -> int:
    async with open_services(settings) as svc:
        if args.schools_action == "import":
            return await _import(svc, args.file, lines)
        try:
            if args.schools_action == "invite":
                await _invite(svc, args.bin)
            else:
                await _key(svc, args.bin)
        except DomainError as exc:
            _err(f"homeschool-bot: {exc}")
            return 1
    return 0


def read_registry(path: Path) -> list[RegistryLine]:
    """Read a registry CSV (UTF-8, BOM or not; `,` or `;`) into numbered lines.

    Raises RegistryFileError for an unreadable file or an unusable header; problems of
    single lines are left to the import, which reports them by line number.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except OSError as exc:
        raise RegistryFileError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise RegistryFileError(f"{path} is not UTF-8 text (bad byte at {exc.start})") from None
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    try:
        return _registry_lines(path, text, delimiter)
    except csv.Error as exc:
        raise RegistryFileError(f"{path} is not a readable CSV file: {exc}") from None


def _registry_lines(path: Path, text: str, delimiter: str) -> list[RegistryLine]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise RegistryFileError(f"{path}: the first line must be the header")
    columns = [cell.strip().lower() for cell in header]
    problem = registry_header_problem(columns)
    if problem is not None:
        raise RegistryFileError(f"{path}: bad header: {problem}")
    lines: list[RegistryLine] = []
    start = reader.line_num + 1
    for record in reader:
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        cells = dict(zip(columns, record + [""] * (len(columns) - len(record)), strict=False))
        lines.append(RegistryLine(number, cells, extra_values=max(0, len(record) - len(columns))))
    return lines


async def _import(svc: Services, path: Path, lines: list[RegistryLine]) -> int:
    report = await import_school_registry(svc, lines)
    for rejection in report.rejections:
        _out(str(rejection))
    _out(import_summary(report))
    if report.imported:
        return 0
    if not report.rejections:
        _err(f"homeschool-bot: {path} has a header but no school lines")
    return 1


def import_summary(report: ImportReport) -> str:
    """`imported 12 schools (10 new, 2 updated), rejected 1 line`."""
    schools = "school" if report.imported == 1 else "schools"
    lines = "line" if len(report.rejections) == 1 else "lines"
    return (
        f"imported {report.imported} {schools} ({report.created} new, {report.updated} updated), "
        f"rejected {len(report.rejections)} {lines}"
    )


async def _invite(svc: Services, bin_: str) -> None:
    invite = await create_school_invite(svc, bin_)
    until = invite.expires_at.astimezone(svc.clock.zone)
    username = svc.bot_profile.username  # known only while a bot runs; offline it is not
    bot = f"@{username}" if username else "the bot"
    _out(
        f"One-time invite code for school {invite.school_bin} «{invite.school_name}»:\n\n"
        f"    {invite.code}\n\n"
        f"In the school's Telegram group, send /link {invite.code} to {bot}\n"
        "(add the bot to the group first; a private chat with the bot works too).\n"
        f"The code works once and expires at {until:%Y-%m-%d %H:%M} ({svc.clock.zone.key})."
    )


async def _key(svc: Services, bin_: str) -> None:
    issued = await issue_school_api_key(svc, bin_)
    _out(
        f"New decision-API key for school {issued.school_bin} «{issued.school_name}»:\n\n"
        f"    {issued.key}\n\n"
        "It cannot be shown again: only its hash is stored. Any previous key of this\n"
        "school stops working now. Send it as `Authorization: Bearer <key>` to\n"
        "POST /api/v1/cases/{case_id}/decision."
    )


def _out(text: str) -> None:
    print(text)  # noqa: T201


def _err(text: str) -> None:
    print(text, file=sys.stderr)  # noqa: T201
