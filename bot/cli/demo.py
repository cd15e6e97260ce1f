"""`homeschool-bot demo`: the whole story offline (see `bot.demo`).

It serves Telegram (the built-in emulator), so aiogram is imported first through
`bot.aiogram_import`, with its Telegram types built on first use.
"""

from __future__ import annotations

import argparse


def main(args: argparse.Namespace) -> int:
    """Play the story; 0 when the guardian got the school's answer."""
    from bot.aiogram_import import import_aiogram_lazily

    import_aiogram_lazily()
    from bot.demo import run_demo_command

    return run_demo_command(args)
