"""Short answers to a person's own action, sent through the outbox like everything else.

Going through the outbox keeps Telegram's per-chat pace for free, and the dedupe key
built from the update id means a re-delivered update never answers twice.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from bot.clock import Clock
from bot.domain.choices import Choices
from bot.usecases.access import Actor
from bot.usecases.messages import text_message
from storage.crypto import DataCipher
from storage.outbox import Kind, OutgoingMessage, enqueue
from storage.repositories.outbox import has_replies_to
from storage.session import Sessions

log = logging.getLogger(__name__)


class Replying(Protocol):
    """What queueing a reply touches (`Services` and `Deciding` both have it)."""

    @property
    def sessions(self) -> Sessions: ...
    @property
    def cipher(self) -> DataCipher: ...
    @property
    def clock(self) -> Clock: ...


async def reply(
    svc: Replying,
    actor: Actor,
    text: str,
    *,
    purpose: str,
    choices: Choices = (),
    reply_markup: dict[str, Any] | None = None,
) -> None:
    """Queue `text` (safe HTML) to the actor's chat.

    `purpose` tells apart several replies to one update.
    """
    message = _reply_message(actor, text, purpose, choices=choices, reply_markup=reply_markup)
    async with svc.sessions.begin() as session:
        await enqueue(session, svc.cipher, svc.clock.now(), message)


async def reply_unless_answered(svc: Replying, actor: Actor, text: str, *, purpose: str) -> bool:
    """Queue `text` unless this update was answered already; True when queued.

    For error answers. Telegram delivers an update again when our 200 came late, and
    the second run finds the work done: a press of Accept then ends in "already
    decided". The person already has the answer to that very press; a second one,
    contradicting it, would only confuse.
    """
    async with svc.sessions.begin() as session:
        if await has_replies_to(session, actor.origin):
            log.info("update %s was answered before; no error reply", actor.origin)
            return False
        await enqueue(session, svc.cipher, svc.clock.now(), _reply_message(actor, text, purpose))
    return True


def _reply_message(
    actor: Actor,
    text: str,
    purpose: str,
    *,
    choices: Choices = (),
    reply_markup: dict[str, Any] | None = None,
) -> OutgoingMessage:
    return text_message(
        f"{actor.origin}:{purpose}",
        Kind.REPLY,
        actor.chat_id,
        text,
        choices=choices,
        reply_markup=reply_markup,
    )
