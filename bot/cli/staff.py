"""`homeschool-bot schools staff add|remove|list`: the accounts of the web inbox.

The arguments are declared in `bot.cli`, which imports this module only to run one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.assembly import open_services
from bot.errors import DomainError
from bot.settings import Settings
from bot.usecases import staff_accounts
from bot.usecases.staff_accounts import StaffListing


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Run `schools staff ...`; exit code 1 when a rule refused (message on stderr)."""
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
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
