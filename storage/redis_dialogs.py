"""aiogram's dialog keys in Redis (staff prompts): their prefix, lifetime and clean-up.

Apart from `storage.fsm` (aiogram's storage itself) so that the daily purge can reach
the keys without importing aiogram, and Redis is imported only when REDIS_URL is set.
"""

from __future__ import annotations

from datetime import timedelta

FSM_PREFIX = "fsm"


async def bound_redis_dialogs(redis_url: str, lifetime: timedelta) -> int:
    """Give every Redis dialog key without a lifetime one; return how many there were.

    Keys written before dialogs had a lifetime would otherwise stay forever. Their age
    is unknown, so they get the full `lifetime` (the retention period) from now.
    """
    from redis.asyncio import Redis

    ttl = int(lifetime.total_seconds())
    redis = Redis.from_url(redis_url)
    bounded = 0
    try:
        async for key in redis.scan_iter(match=f"{FSM_PREFIX}:*", count=500):
            if await redis.expire(key, ttl, nx=True):
                bounded += 1
    finally:
        await redis.aclose()
    return bounded
