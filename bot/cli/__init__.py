"""The `homeschool-bot` command (also `python -m bot`): the composition root of the CLI.

Every command's arguments are declared here with the standard library only, so
`--help` and a mistyped argument answer at once. Each command is one module of this
package (`bot.cli.run`, `bot.cli.schools`, ...), imported only when that command runs;
its module imports what the command uses. Settings are read before the command's
module is imported, so a malformed setting is reported without loading it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from bot.settings import Settings

    Actions = argparse._SubParsersAction[argparse.ArgumentParser]

PRIVATE_UMASK = 0o077
LANGS = ("kk", "ru")  # bot.texts.Lang, whose module reads the catalogs' plural rules


class Standalone(Protocol):
    """A command that needs no settings (`keygen`, `demo`)."""

    def main(self, args: argparse.Namespace) -> int: ...


class Configured(Protocol):
    """A command that reads the settings (the database, the key) first."""

    def main(self, args: argparse.Namespace, settings: Settings) -> int: ...


STANDALONE = frozenset({"keygen", "demo"})


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree, for `--help` and for running."""
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


def _add_school_commands(commands: Actions) -> None:
    schools = commands.add_parser("schools", help="manage the school registry")
    actions = schools.add_subparsers(dest="schools_action", required=True, metavar="ACTION")
    upsert = actions.add_parser("import", help="upsert schools from a CSV file (by BIN)")
    upsert.add_argument("file", type=Path, metavar="FILE.csv")
    invite = actions.add_parser("invite", help="print a one-time code that links a staff chat")
    invite.add_argument("bin", metavar="BIN")
    key = actions.add_parser("key", help="print a new decision-API key (the old one stops)")
    key.add_argument("bin", metavar="BIN")
    _add_staff_commands(actions)
    commands.add_parser("stats", help="counts by status, consent rate, median times, overdue")


def _add_staff_commands(actions: Actions) -> None:
    staff = actions.add_parser("staff", help="accounts that sign in to the web inbox at /school")
    verbs = staff.add_subparsers(dest="staff_action", required=True, metavar="ACTION")
    add = verbs.add_parser("add", help="give a person an account (signs in by phone + SMS code)")
    add.add_argument("bin", metavar="BIN")
    add.add_argument("--name", required=True, help="the person's full name (shown on decisions)")
    add.add_argument("--phone", required=True, help="their mobile number, e.g. +77011234567")
    add.add_argument(
        "--authority",
        action="store_true",
        help="the school's local education authority: read-only, the overdue cases of its schools",
    )
    remove = verbs.add_parser("remove", help="end an account and its sessions at once")
    remove.add_argument("bin", metavar="BIN")
    remove.add_argument("--phone", required=True)
    listing = verbs.add_parser("list", help="the school's accounts")
    listing.add_argument("bin", metavar="BIN")


def _add_backup_commands(commands: Actions) -> None:
    backup = commands.add_parser(
        "backup", help="consistent copy of the SQLite database, also while `run` serves"
    )
    backup.add_argument("path", type=Path, metavar="PATH")
    restore = commands.add_parser(
        "restore", help="replace the SQLite database by a backup (the service must be stopped)"
    )
    restore.add_argument("path", type=Path, metavar="PATH")


def _add_demo_command(commands: Actions) -> None:
    demo = commands.add_parser(
        "demo",
        help="the whole story offline: emulated Telegram, health system, guardian, school",
    )
    demo.add_argument(
        "--lang", choices=LANGS, default=LANGS[0], help="the guardian's language (default: kk)"
    )
    demo.add_argument("--refuse", action="store_true", help="the school refuses instead")
    demo.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for the PDFs (default: a new ./demo-output/<timestamp>)",
    )


def command_module(args: argparse.Namespace) -> str:
    """The module of `bot.cli` that runs the parsed command."""
    if args.command == "schools":
        return "staff" if args.schools_action == "staff" else "schools"
    if args.command == "restore":
        return "backup"
    return str(args.command)


def main(argv: list[str] | None = None) -> int:
    """Parse, read the settings if the command needs them, run it; the exit code."""
    # Every file we create (SQLite database, its WAL, the generated key, PDFs) is ours
    # alone: they hold personal data, or the key to it.
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    name = f"{__name__}.{command_module(args)}"
    if args.command in STANDALONE:
        return cast(Standalone, importlib.import_module(name)).main(args)
    from bot.errors import StartupError
    from bot.logs import setup_logging
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"homeschool-bot: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    setup_logging(settings.LOG_FORMAT)
    try:
        return cast(Configured, importlib.import_module(name)).main(args, settings)
    except StartupError as exc:
        print(f"homeschool-bot: {exc}", file=sys.stderr)  # noqa: T201
        return 2
