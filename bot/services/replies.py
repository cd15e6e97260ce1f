"""Short answers to a person's own action, sent through the outbox like everything else.

Going through the outbox keeps Telegram's per-chat pace for free, and the dedupe key
built from the update id means a re-delivered update never answers twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.delivery.outbox import Kind, enqueue
from bot.runtime import Services
from bot.services.access import Actor
from bot.services.messages import Button, text_message


async def reply(
    svc: Services,
    actor: Actor,
    text: str,
    *,
    purpose: str,
    buttons: Sequence[Sequence[Button]] = (),
    reply_markup: dict[str, Any] | None = None,
) -> None:
    """Queue `text` (safe HTML) to the actor's chat.

    `purpose` tells apart several replies to one update.
    """
    message = text_message(
        f"{actor.origin}:{purpose}",
        Kind.REPLY,
        actor.chat_id,
        text,
        buttons=buttons,
        reply_markup=reply_markup,
    )
    async with svc.sessions.begin() as session:
        await enqueue(session, svc.cipher, svc.clock.now(), message)
