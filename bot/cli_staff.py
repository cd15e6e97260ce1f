"""`homeschool-bot schools staff add|remove|list`: the accounts of the web inbox.

The arguments are declared with the standard library only (`add_staff_parser`, called
by `bot.cli`); the rest is imported when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.usecases.staff_accounts import StaffListing


def add_staff_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare `schools staff ...` under the `schools` command."""
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


def run_staff_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `schools staff ...`; exit code 1 when a rule refused (message on stderr)."""
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import open_services
    from bot.errors import DomainError
    from bot.usecases import staff_accounts

    async with open_services(settings) as svc:
        try:
            if args.staff_action == "add":
                added, school = await staff_accounts.add_staff(
                    svc, args.bin, args.name, args.phone, authority=args.authority
                )
                where = (
                    settings.PUBLIC_BASE_URL or f"http://{settings.HTTP_HOST}:{settings.HTTP_PORT}"
                )
                _out(f"added {_line(added)} to school {school.bin}; signs in at {where}/school")
            elif args.staff_action == "remove":
                removed = await staff_accounts.remove_staff(svc, args.bin, args.phone)
                _out(f"removed {_line(removed)}; their sessions have ended")
            else:
                school, accounts = await staff_accounts.list_staff(svc, args.bin)
                for account in accounts:
                    _out(_line(account))
                _out(f"{len(accounts)} account(s) at school {school.bin}")
        except DomainError as exc:
            print(f"homeschool-bot: {exc}", file=sys.stderr)  # noqa: T201
            return 1
    return 0


def _line(account: StaffListing) -> str:
    return f"#{account.id} {account.role} {account.name} {account.phone}"


def _out(text: str) -> None:
    print(text)  # noqa: T201
