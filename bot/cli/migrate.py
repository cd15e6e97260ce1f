"""`homeschool-bot migrate`: bring the database to the latest schema, then stop."""

from __future__ import annotations

import argparse
import asyncio

from bot.assembly import open_services
from bot.settings import Settings


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Open the database as every command does (migrating it); 0 when it is at head."""
    asyncio.run(_migrate(settings))
    print("database is at the latest schema")  # noqa: T201
    return 0


async def _migrate(settings: Settings) -> None:
    async with open_services(settings):
        pass
