"""Telegram's side of a benchmark in a child process, so its CPU is not counted as ours."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def telegram_side(script: str, *args: str) -> AsyncIterator[dict[str, Any]]:
    """Run `script` again with `args`; yield the JSON line it prints when it is ready.

    The child serves until its stdin closes, which leaving the block does.
    """
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        yield json.loads(await child.stdout.readline())
    finally:
        child.stdin.close()
        await child.wait()
