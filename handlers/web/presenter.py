"""How the guardian's prompts look on a web page: HTML text, one form, its buttons.

The use cases say what to ask and which choices to offer (`bot.usecases.prompts`), the
same prompts the Telegram view turns into messages with buttons (see
`handlers.telegram.guardian.views`). Here a prompt becomes one form: the question's
text, the field a typed answer goes into (with its label and its error), and a submit
button per choice, whose value says the choice back (`act:step:value`, parsed by
`parse_choice`). The page's language is the visitor's, whatever the prompt was made in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from markupsafe import Markup

from bot.domain.choices import Act, Choice, Step, Text
from bot.errors import DomainError
from bot.texts import Lang, Texts
from bot.usecases.application import ADDRESS_MAX, NOTE_MAX
from bot.usecases.form_answers import SCHOOL_QUERY_MAX
from bot.usecases.hearing import POSITION_MAX
from bot.usecases.prompts import Prompt, render, render_parts

POSITION = "position"
"""The hearing's typed position: the one answer that is no choice and no form step."""

# Texts that tell the chat's reader how to answer there ("write it in this chat") have
# a twin with the same placeholders that says it for the page.
WEB_WORDING = {
    "hearing.invitation": "web.hearing.invitation",
    "status.hearing_until": "web.status.hearing_until",
}

# Choices that go on quietly, next to the main one (decline, skip, edit).
_SECONDARY = frozenset({Act.DECLINE, Act.SKIP, Act.EDIT})


@dataclass(frozen=True)
class Field:
    """The box a typed answer goes into, `label` names it; its own button posts `value`."""

    label: Markup
    button: Markup
    value: str
    maxlength: int
    multiline: bool = True


@dataclass(frozen=True)
class Button:
    value: str
    label: Markup
    secondary: bool = False


@dataclass(frozen=True)
class WebPrompt:
    """One prompt as a page draws it."""

    text: Markup
    field: Field | None
    rows: tuple[tuple[Button, ...], ...]
    edits: tuple[Button, ...]


class WebPresenter:
    """Renders prompts in the page's language (see the module's docstring)."""

    def __init__(self, texts: Texts, lang: Lang) -> None:
        self._texts, self._lang = texts, lang

    def page(self, prompt: Prompt) -> WebPrompt:
        shown = replace(prompt, lang=self._lang, parts=tuple(map(web_wording, prompt.parts)))
        field = self._field(prompt)
        # Beside a field, whose own button is the main answer, a choice is the other way.
        quiet = field is not None
        choices = [c for row in prompt.choices for c in row]
        edits = tuple(self._button(c, quiet) for c in choices if c.act is Act.EDIT)
        rows = tuple(
            tuple(self._button(c, quiet) for c in row if c.act is not Act.EDIT)
            for row in prompt.choices
        )
        return WebPrompt(
            text=Markup(render_parts(self._texts, shown)),
            field=field,
            rows=tuple(row for row in rows if row),
            edits=edits,
        )

    def text(self, text: Text) -> Markup:
        return Markup(render(self._texts, self._lang, web_wording(text)))

    def _button(self, choice: Choice, quiet: bool) -> Button:
        label = choice.label
        shown = self.text(label) if isinstance(label, Text) else Markup.escape(label)
        value = ":".join((choice.act.value, choice.step or "", choice.value or ""))
        return Button(value, shown, secondary=quiet or choice.act in _SECONDARY)

    def _field(self, prompt: Prompt) -> Field | None:
        """The typed answer the prompt waits for: an address, a note, a school's name,
        or the hearing's position. The grade is chosen from its buttons."""
        t = self._label
        if prompt.purpose == "hearing":
            return Field(t("web.field.position"), t("web.send_position"), POSITION, POSITION_MAX)
        typed = {
            Step.ADDRESS: ("web.field.address", "web.next", ADDRESS_MAX, True),
            Step.NOTE: ("web.field.note", "web.next", NOTE_MAX, True),
            Step.SCHOOL: ("web.field.school", "web.search", SCHOOL_QUERY_MAX, False),
        }
        if prompt.asks not in typed:
            return None
        assert prompt.asks is not None
        label, button, maxlength, multiline = typed[prompt.asks]
        value = f"{Act.ANSWER.value}:{prompt.asks.value}:"
        return Field(t(label), t(button), value, maxlength, multiline)

    def _label(self, key: str) -> Markup:
        return Markup(self._texts(self._lang, key))


def web_wording(text: Text) -> Text:
    """`text` with the page's twin of every chat-only wording in it, nested ones too."""
    params = {k: web_wording(v) if isinstance(v, Text) else v for k, v in text.params.items()}
    lines = tuple(web_wording(line) for line in text.lines)
    return replace(text, key=WEB_WORDING.get(text.key, text.key), params=params, lines=lines)


@dataclass(frozen=True)
class Posted:
    """A pressed button, read back: what to do, to which question, with which value."""

    act: Act | None
    step: Step | None
    value: str | None


def parse_choice(raw: str) -> Posted:
    """The button's value (see `WebPresenter._button`), or the position's; a value no page
    of ours makes is refused like an old page's form."""
    if raw == POSITION:
        return Posted(None, None, None)
    act, _, rest = raw.partition(":")
    step, _, value = rest.partition(":")
    try:
        return Posted(Act(act), Step(step) if step else None, value or None)
    except ValueError:
        raise DomainError("web.form_expired", f"no such choice {raw!r}") from None
