"""What the replica and burst tests share: a bot of their own, whose Redis keys they
remove afterwards, and Telegram's view of what the bot sent.

The emulator enforces Telegram's limits and answers 429 beyond them; these tests also
count for themselves, from the accepted sends and the emulator's clock, so a limit
that held only because the emulator refused the excess would still fail them.
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Sequence

from redis.asyncio import Redis

from bot.emulator import ApiCall, TelegramEmulator, UserHandle

SEND_METHODS = frozenset({"sendMessage", "sendDocument"})


def fresh_token() -> str:
    """A bot token with a random bot id: aiogram's Redis keys start with the bot id, so
    a shared Redis (other tests, an earlier run) holds nothing this bot could read."""
    return f"{900_000_000 + secrets.randbelow(99_999_999)}:reliability-token"


def bot_id(token: str) -> int:
    return int(token.partition(":")[0])


async def drop_fsm_keys(url: str, token: str) -> None:
    """Aiogram's keys of this test's bot (its id is random), so Redis is left as found."""
    redis = Redis.from_url(url)
    try:
        async for key in redis.scan_iter(match=f"fsm:{bot_id(token)}:*"):
            await redis.delete(key)
    finally:
        await redis.aclose()


def accepted_sends(emu: TelegramEmulator) -> list[ApiCall]:
    """Every message Telegram accepted from the bot (text or document), in order."""
    return [c for c in emu.calls if c.ok and c.method in SEND_METHODS]


def busiest_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most sends in any `window` seconds, counted like Telegram's sliding window
    (a send exactly `window` before another is outside it)."""
    ordered = sorted(times)
    return max(
        (i + 1 - bisect.bisect_right(ordered, t - window) for i, t in enumerate(ordered)),
        default=0,
    )


def opened_earlier(emu: TelegramEmulator, user_id: int | None = None) -> UserHandle:
    """A user who started the bot before this test began (their /start was handled then):
    the bot may write to them, and no update is queued now."""
    user = emu.user(user_id)
    user.chat.started = True
    return user


def rejections(emu: TelegramEmulator, window: float = 1.0) -> list[str]:
    """Each 429 the emulator answered, with what Telegram had accepted just before it:
    the sends in the preceding `window` seconds and the gap since the chat's last one."""
    sends = accepted_sends(emu)
    explained = []
    for call in (c for c in emu.calls if c.error_code == 429):
        chat = str(call.params.get("chat_id"))
        before = [c for c in sends if call.at - window < c.at <= call.at]
        earlier = [c.at for c in sends if str(c.params.get("chat_id")) == chat and c.at <= call.at]
        gap = f"{call.at - earlier[-1]:.3f} s" if earlier else "none before"
        explained.append(
            f"{call.method} to {chat} at {call.at:.3f}: {len(before)} sends in the {window} s "
            f"before, last to this chat {gap}"
        )
    return explained
