"""`/link CODE`: a staff chat becomes a school's inbox with a code from `schools invite`.

Staff may use either language, so every answer is one short message in Kazakh, then
Russian; the school name is escaped like every other value in a text.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.access import Actor
from bot.usecases.replies import reply
from bot.usecases.schools import LinkOutcome, LinkResult, link_staff_chat

_KEYS: dict[LinkOutcome, str] = {
    LinkOutcome.LINKED: "link.linked",
    LinkOutcome.ALREADY_LINKED: "link.already_linked",
    LinkOutcome.UNKNOWN_CODE: "link.unknown_code",
    LinkOutcome.EXPIRED: "link.expired",
    LinkOutcome.USED: "link.used",
    LinkOutcome.CHAT_TAKEN: "link.chat_taken",
}


def bilingual(svc: Services, key: str, **params: object) -> str:
    """Staff may read either language: Kazakh first, then Russian, as GLOSSARY asks."""
    return "\n".join(svc.texts(lang, key, **params) for lang in (Lang.KK, Lang.RU))


async def on_link(message: Message, command: CommandObject, svc: Services, actor: Actor) -> None:
    """Staff chat redeems an invite code and becomes its school's inbox."""
    user = message.from_user
    if user is None:  # only channel posts lack a sender, and a channel is not an inbox
        return
    code = (command.args or "").strip()
    if not code:
        await reply(svc, actor, bilingual(svc, "link.no_code"), purpose="link")
        return
    result = await link_staff_chat(svc, code, message.chat.id, user.id)
    await reply(svc, actor, link_reply(svc, result), purpose="link")


def link_reply(svc: Services, result: LinkResult) -> str:
    """The bilingual answer to `/link` for a service result (safe HTML)."""
    school = {}
    if result.linked:
        school = {"school": result.school_name_kk or result.school_name_ru or ""}
    return bilingual(svc, _KEYS[result.outcome], **school)


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.message.register(on_link, Command("link"))
    return router
