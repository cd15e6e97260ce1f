"""Error answers to an update that was answered before are not queued (redelivery)."""

from __future__ import annotations

from sqlalchemy import select

from bot.runtime import Services
from bot.usecases.access import Actor
from bot.usecases.replies import reply, reply_unless_answered
from storage.models import OutboxMessage


async def queued_keys(services: Services) -> list[str]:
    async with services.sessions() as session:
        return sorted(await session.scalars(select(OutboxMessage.dedupe_key)))


async def test_error_answer_only_for_an_update_not_answered_yet(services: Services) -> None:
    answered = Actor(telegram_user_id=5, chat_id=5, origin="u12")
    await reply(services, answered, "Accepted", purpose="accepted")

    again = await reply_unless_answered(services, answered, "Already decided", purpose="error")
    # u123 and u1 share the digits of u12 but are other updates; they get their answers.
    longer = Actor(telegram_user_id=5, chat_id=5, origin="u123")
    shorter = Actor(telegram_user_id=5, chat_id=5, origin="u1")
    first_longer = await reply_unless_answered(services, longer, "Not yours", purpose="error")
    first_shorter = await reply_unless_answered(services, shorter, "Not yours", purpose="error")

    assert (again, first_longer, first_shorter) == (False, True, True)
    assert await queued_keys(services) == ["u123:error", "u12:accepted", "u1:error"]
