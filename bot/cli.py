"""The `homeschool-bot` command (also `python -m bot`): the composition root of the CLI.

Every command's arguments are declared here, with nothing but the standard library, so
`--help` and `keygen` start at once; a command imports what it uses when it runs. The
commands that serve or store import aiogram first through `bot.aiogram_import`, so its
Telegram types are built on first use rather than all at start-up.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli_staff import add_staff_parser
from bot.texts import Lang

if TYPE_CHECKING:
    from bot.settings import Settings

PRIVATE_UMASK = 0o077


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeschool-bot",
        description="Proactive Telegram channel for home schooling (order No. 223).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="HTTP API + bot + scheduler + dispatcher in one process")
    commands.add_parser("migrate", help="bring the database to the latest schema")
    commands.add_parser("keygen", help="print a new DATA_KEY value")
    commands.add_parser(
        "rekey", help="re-encrypt stored personal data under the first DATA_KEY key"
    )
    _add_school_commands(commands)
    _add_backup_commands(commands)
    _add_demo_command(commands)
    return parser


def _add_school_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schools = commands.add_parser("schools", help="manage the school registry")
    actions = schools.add_subparsers(dest="schools_action", required=True, metavar="ACTION")
    upsert = actions.add_parser("import", help="upsert schools from a CSV file (by BIN)")
    upsert.add_argument("file", type=Path, metavar="FILE.csv")
    invite = actions.add_parser("invite", help="print a one-time code that links a staff chat")
    invite.add_argument("bin", metavar="BIN")
    key = actions.add_parser("key", help="print a new decision-API key (the old one stops)")
    key.add_argument("bin", metavar="BIN")
    add_staff_parser(actions)
    commands.add_parser("stats", help="counts by status, consent rate, median times, overdue")


def _add_backup_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup", help="consistent copy of the SQLite database, also while `run` serves"
    )
    backup.add_argument("path", type=Path, metavar="PATH")
    restore = commands.add_parser(
        "restore", help="replace the SQLite database by a backup (the service must be stopped)"
    )
    restore.add_argument("path", type=Path, metavar="PATH")


def _add_demo_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="the whole story offline: emulated Telegram, health system, guardian, school",
    )
    demo.add_argument(
        "--lang",
        choices=[lang.value for lang in Lang],
        default=Lang.KK.value,
        help="the guardian's language (default: kk)",
    )
    demo.add_argument("--refuse", action="store_true", help="the school refuses instead")
    demo.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for the PDFs (default: a new ./demo-output/<timestamp>)",
    )


async def _migrate(settings: Settings) -> None:
    from bot.app import open_services

    async with open_services(settings):
        pass
    print("database is at the latest schema")  # noqa: T201


async def _rekey(settings: Settings) -> int:
    from bot.app import open_services
    from bot.usecases.rekey import rekey_personal_data

    async with open_services(settings) as svc:
        report = await rekey_personal_data(svc)
    tables = ", ".join(f"{name} {n}" for name, n in sorted(report.rewritten.items()))
    print(f"re-encrypted {report.rewritten.total()} rows under the first key ({tables or 'none'})")  # noqa: T201
    if report.changed_meanwhile:
        print(f"{report.changed_meanwhile.total()} rows were rewritten by the service meanwhile")  # noqa: T201
    if report.undecryptable:
        lost = ", ".join(f"{name} {n}" for name, n in sorted(report.undecryptable.items()))
        print(  # noqa: T201
            f"homeschool-bot: {report.undecryptable.total()} rows need a key that is not in "
            f"DATA_KEY ({lost}); keep every old key until they are resolved",
            file=sys.stderr,
        )
        return 1
    print("no stored data needs the other DATA_KEY keys any more; they can be removed")  # noqa: T201
    return 0


def main(argv: list[str] | None = None) -> int:
    # Every file we create (SQLite database, its WAL, the generated key, PDFs) is ours
    # alone: they hold personal data, or the key to it.
    os.umask(PRIVATE_UMASK)
    args = _parser().parse_args(argv)
    if args.command == "keygen":
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode())  # noqa: T201
        return 0
    from bot.aiogram_import import import_aiogram_lazily

    import_aiogram_lazily()
    if args.command == "demo":
        from bot.demo import run_demo_command

        return run_demo_command(args)
    from bot.logs import setup_logging
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"homeschool-bot: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    setup_logging(settings.LOG_FORMAT)
    from bot.errors import StartupError

    try:
        return _run_command(args, settings)
    except StartupError as exc:
        print(f"homeschool-bot: {exc}", file=sys.stderr)  # noqa: T201
        return 2


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    if args.command == "schools" and args.schools_action == "staff":
        from bot.cli_staff import run_staff_command

        return run_staff_command(args, settings)
    if args.command in ("schools", "stats"):
        from bot.cli_schools import run_school_command

        return run_school_command(args, settings)
    if args.command in ("backup", "restore"):
        from bot.cli_backup import run_backup_command

        return run_backup_command(args, settings)
    if args.command == "run":
        from bot.app import serve

        asyncio.run(serve(settings))
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "rekey":
        return asyncio.run(_rekey(settings))
    return 0
