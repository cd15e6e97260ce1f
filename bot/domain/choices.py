"""What a person is told and offered, said without any channel.

A use case tells someone catalog `Text`s and offers `Choice`s; the channel's view turns
a choice into its own control (Telegram: an inline button and its callback data, see
`handlers.telegram.views`; a web page: a form's button posting `act`, `step`, `value`).
One type for every audience: the guardian's form, the notice, the school's decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.language import Lang


class Step(StrEnum):
    """A question of the application form; the draft records the one asked last."""

    SCHOOL = "school"
    GRADE = "grade"
    ADDRESS = "address"
    NOTE = "note"
    SUMMARY = "summary"


class Act(StrEnum):
    """What choosing a `Choice` does."""

    AGREE = "agree"  # consent to the notice
    DECLINE = "decline"  # refuse the notice
    AGAIN = "again"  # after a decline: show the consent request again
    WITHDRAW = "withdraw"  # take back the consent given on the case
    ANSWER = "answer"  # `value` answers `step` (a grade, a school id)
    SKIP = "skip"  # the optional `step` stays empty
    EDIT = "edit"  # ask `step` again
    CONFIRM = "confirm"  # submit the application shown in the summary
    LANGUAGE = "language"  # speak the language `value`
    SHARE_PHONE = "share_phone"  # prove the phone number (Telegram: the contact button)
    NO_OBJECTIONS = "no_objections"  # the guardian waives the hearing
    ACCEPT = "accept"  # the school accepts the application
    REFUSE = "refuse"  # the school starts a reasoned refusal
    GROUND = "ground"  # the refusal ground `value` (1-3)


@dataclass(frozen=True)
class Text:
    """A catalog text `key` with `params`; `lines` follow it, one per line.

    `lang` is set only for a text that must be read in a language of its own (the
    button that switches to the other language is labelled in that language).
    """

    key: str
    params: Mapping[str, object] = field(default_factory=dict)
    lines: tuple[Text, ...] = ()
    lang: Lang | None = None


@dataclass(frozen=True)
class Choice:
    """One answer offered with a message, on the case `case_id` when it concerns one.

    `label` is a catalog `Text` while the reader's language is not applied yet, or the
    words themselves (a school's name, or a label already in the reader's language: an
    outbox row stores only those).
    """

    act: Act
    label: Text | str
    case_id: str | None = None
    step: Step | None = None
    value: str | None = None


Choices = tuple[tuple[Choice, ...], ...]
"""Rows of choices, as a keyboard shows them."""
