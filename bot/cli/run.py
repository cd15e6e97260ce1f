"""`homeschool-bot run`: HTTP API, bot, outbox dispatcher and scheduler in one process.

Only what is configured is imported: aiogram (through `bot.aiogram_import`, its
Telegram types built on first use) when `BOT_TOKEN` is set, Redis when `REDIS_URL` is,
Alembic when the database is not at the latest schema.
"""

from __future__ import annotations

import argparse
import asyncio

from bot.settings import Settings


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; 0 after a clean stop."""
    if settings.BOT_TOKEN is not None:
        from bot.aiogram_import import import_aiogram_lazily

        import_aiogram_lazily()
    from bot.app import serve

    asyncio.run(serve(settings))
    return 0
