"""The `homeschool-bot` command (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from cryptography.fernet import Fernet

from bot.app import open_services, serve
from bot.cli_schools import SCHOOL_COMMANDS, add_school_commands, run_school_command
from bot.demo import add_demo_command, run_demo_command
from bot.logs import setup_logging
from bot.services.rekey import rekey_personal_data
from bot.settings import Settings, SettingsError, load_settings

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
    add_school_commands(commands)
    add_demo_command(commands)
    return parser


async def _migrate(settings: Settings) -> None:
    async with open_services(settings):
        pass
    print("database is at the latest schema")  # noqa: T201


async def _rekey(settings: Settings) -> int:
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
        print(Fernet.generate_key().decode())  # noqa: T201
        return 0
    if args.command == "demo":
        return run_demo_command(args)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"homeschool-bot: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    setup_logging(settings.LOG_FORMAT)
    if args.command in SCHOOL_COMMANDS:
        return run_school_command(args, settings)
    if args.command == "run":
        asyncio.run(serve(settings))
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "rekey":
        return asyncio.run(_rekey(settings))
    return 0
