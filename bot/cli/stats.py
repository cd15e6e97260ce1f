"""`homeschool-bot stats`: counts by status, consent rate, median times, overdue."""

from __future__ import annotations

import argparse
import asyncio

from bot.assembly import open_services
from bot.settings import Settings
from bot.usecases.stats import collect_stats, format_stats


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Print the figures of the whole database."""
    print(asyncio.run(_stats(settings)))  # noqa: T201
    return 0


async def _stats(settings: Settings) -> str:
    async with open_services(settings) as svc:
        return format_stats(await collect_stats(svc))
