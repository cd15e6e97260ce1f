"""`homeschool-bot rekey`: re-encrypt stored personal data under the first DATA_KEY key.

The staff prompts it rewrites are aiogram's FSM records, so aiogram is imported first
through `bot.aiogram_import` (its Telegram types built on first use), then the use case.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from bot.assembly import open_services
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.usecases.rekey import RekeyReport


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Rewrite every row; 1 when some rows need a key that is not in DATA_KEY."""
    report = asyncio.run(_rekey(settings))
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


async def _rekey(settings: Settings) -> RekeyReport:
    from bot.aiogram_import import import_aiogram_lazily

    import_aiogram_lazily()
    from bot.usecases.rekey import rekey_personal_data

    async with open_services(settings) as svc:
        return await rekey_personal_data(svc)
