"""The first message about a case: who, what the VKK concluded, and the consent request."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.domain.choices import Act, Choice, Text
from bot.grammar import given_names
from bot.runtime import Services
from bot.texts import Lang, Texts, count_key
from bot.usecases.case_views import CaseView, validity
from bot.usecases.messages import prompt_message
from bot.usecases.prompts import Prompt, render
from storage.outbox import Kind, OutgoingMessage

# The wording's name; a new wording gets a new one. The stored text is the evidence.
CONSENT_VERSION = "2026-12.1"


@dataclass(frozen=True)
class ConsentText:
    version: str
    language: Lang
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def consent_text(svc: Services, lang: Lang, *, web: bool = False) -> ConsentText:
    """The exact consent wording shown to the guardian, with the retention period in it.

    What the guardian agrees to includes how long the data are kept, so the period is
    part of the text (and of its hash) rather than a footnote that may drift from it;
    and how to withdraw it, which the web page says its own way (`web`).
    """
    return consent_wording(svc.texts, lang, svc.settings.RETENTION_DAYS, web=web)


def consent_wording(
    texts: Texts, lang: Lang, retention_days: int, *, web: bool = False
) -> ConsentText:
    """The consent text for a retention period, without a running service (the demo's
    reader and the tests compare what was shown with it)."""
    part = consent_part(retention_days, web=web)
    return ConsentText(CONSENT_VERSION, lang, render(texts, lang, part))


def consent_part(retention_days: int, *, web: bool = False) -> Text:
    """The consent wording as a prompt's part: what the channel shows and what is kept."""
    period = Text(count_key("period.days", retention_days), {"n": retention_days})
    withdrawal = Text("web.consent.withdrawal" if web else "consent.withdrawal")
    return Text("consent.text", {"period": period, "withdrawal": withdrawal})


def notice_prompt(retention_days: int, lang: Lang, view: CaseView, *, web: bool = False) -> Prompt:
    """The notice: who, what the VKK concluded, the consent text, Agree / Decline; `web`:
    as the guardian's page shows it (see `consent_text`)."""
    greeting = {"m": "notice.greeting_m", "f": "notice.greeting_f", None: "notice.greeting"}
    body = Text(
        "notice.body",
        {
            "greeting": Text(
                greeting[view.guardian.sex], {"guardian_name": given_names(view.guardian_name)}
            ),
            "organization": view.conclusion_organization,
            "number": view.conclusion_number,
            "date": view.conclusion_date.strftime("%d.%m.%Y"),
            "child_name": view.child,
            "school": view.school or Text("notice.school_unknown"),
            "case_number": view.number,
        },
    )
    parts = (
        body,
        validity(view),
        consent_part(retention_days, web=web),
        Text("notice.question", {"question": Text("consent.question")}),
    )
    choices = (
        (
            Choice(Act.AGREE, Text("consent.agree_button")),
            Choice(Act.DECLINE, Text("consent.decline_button")),
        ),
    )
    return Prompt(lang, "notice", parts, choices, case_id=view.case_id)


def notice_message(
    texts: Texts,
    retention_days: int,
    lang: Lang,
    view: CaseView,
    chat_id: int,
    dedupe_key: str,
    kind: Kind,
) -> OutgoingMessage:
    """The notice as a chat message, its choices as the outbox's neutral buttons."""
    return prompt_message(
        texts, notice_prompt(retention_days, lang, view), chat_id, dedupe_key, kind
    )
