"""What the guardian is shown next, said without any channel: texts, choices, a document.

A use case of the guardian's conversation returns a `Prompt`: text keys with their
parameters (a parameter may itself be a `Text`, rendered in the same language), the
choices to offer in rows (`bot.domain.choices`, the same ones every audience is
offered), and the question it leaves open. The Telegram view renders it
into a message with buttons; a web page can render the same prompt as a form whose
buttons post the choice's `act`, `step` and `value` back to the same use cases.

A use case that runs for a channel which delivers through the outbox is given a
`Present`: it is called inside the use case's transaction, so the answer, the next
question and its outgoing message commit together. A channel that answers in its own
response (a web page) passes none and renders the returned prompt itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.choices import Choices, Step, Text
from bot.texts import Lang, Raw, Texts

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.usecases.access import Actor


@dataclass(frozen=True)
class Attachment:
    """A stored document (see `storage.repositories.documents`) sent with the prompt."""

    document_id: int
    filename: str


@dataclass(frozen=True)
class Prompt:
    """One message to the guardian.

    `purpose` tells apart the messages one action causes (it is part of the outbox's
    dedupe key). `asks` is the form question left open, which a typed answer answers;
    None when no typed answer is expected.
    """

    lang: Lang
    purpose: str
    parts: tuple[Text, ...]
    choices: Choices = ()
    case_id: str | None = None
    asks: Step | None = None
    attachment: Attachment | None = None


Present = Callable[["AsyncSession", "Actor", Prompt], Awaitable[None]]
"""Writes a prompt to the actor's channel inside the caller's transaction."""


async def show(
    session: AsyncSession, present: Present | None, actor: Actor, prompt: Prompt
) -> Prompt:
    """Hand `prompt` to the channel when it has a `present`; return it either way."""
    if present is not None:
        await present(session, actor, prompt)
    return prompt


def say(lang: Lang, purpose: str, key: str, /, **params: object) -> Prompt:
    """A prompt of one text and no choices."""
    return Prompt(lang=lang, purpose=purpose, parts=(Text(key, params),))


def render(texts: Texts, lang: Lang, text: Text) -> str:
    """`text` as safe HTML in `lang`: nested texts first, then its lines below it."""
    lang = text.lang or lang
    params = {
        name: Raw(render(texts, lang, value)) if isinstance(value, Text) else value
        for name, value in text.params.items()
    }
    rendered = [texts(lang, text.key, **params)]
    rendered.extend(render(texts, lang, line) for line in text.lines)
    return "\n".join(rendered)


def render_parts(texts: Texts, prompt: Prompt) -> str:
    """The prompt's parts as one safe HTML text, a blank line between parts."""
    return "\n\n".join(render(texts, prompt.lang, part) for part in prompt.parts)
