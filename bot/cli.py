"""The `homeschool-bot` command (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from cryptography.fernet import Fernet

from bot.app import open_services, serve
from bot.cli_schools import SCHOOL_COMMANDS, add_school_commands, run_school_command
from bot.demo import add_demo_command, run_demo_command
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeschool-bot",
        description="Proactive Telegram channel for home schooling (order No. 223).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="HTTP API + bot + scheduler + dispatcher in one process")
    commands.add_parser("migrate", help="bring the database to the latest schema")
    commands.add_parser("keygen", help="print a new DATA_KEY value")
    add_school_commands(commands)
    add_demo_command(commands)
    return parser


async def _migrate(settings: Settings) -> None:
    async with open_services(settings):
        pass
    print("database is at the latest schema")  # noqa: T201


def main(argv: list[str] | None = None) -> int:
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
    return 0
