"""The first message about a case: who, what the VKK concluded, and the consent request."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.domain.choices import Act, Choice
from bot.grammar import given_names
from bot.runtime import Services
from bot.texts import Lang, Raw, Texts, count_key
from bot.usecases.case_views import CaseView, validity_text
from bot.usecases.messages import text_message
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


def consent_text(svc: Services, lang: Lang) -> ConsentText:
    """The exact consent wording shown to the guardian, with the retention period in it.

    What the guardian agrees to includes how long the data are kept, so the period is
    part of the text (and of its hash) rather than a footnote that may drift from it.
    """
    return consent_wording(svc.texts, lang, svc.settings.RETENTION_DAYS)


def consent_wording(texts: Texts, lang: Lang, retention_days: int) -> ConsentText:
    """The consent text for a retention period, without a running service (the demo's
    reader and the tests compare what was shown with it)."""
    period = Raw(texts(lang, count_key("period.days", retention_days), n=retention_days))
    return ConsentText(CONSENT_VERSION, lang, texts(lang, "consent.text", period=period))


def notice_message(
    svc: Services, lang: Lang, view: CaseView, chat_id: int, dedupe_key: str, kind: Kind
) -> OutgoingMessage:
    """The notice with the versioned consent text and Agree / Decline buttons."""
    texts = svc.texts
    greeting = {"m": "notice.greeting_m", "f": "notice.greeting_f", None: "notice.greeting"}
    body = texts(
        lang,
        "notice.body",
        greeting=Raw(
            texts(lang, greeting[view.guardian.sex], guardian_name=given_names(view.guardian_name))
        ),
        organization=view.conclusion_organization,
        number=view.conclusion_number,
        date=view.conclusion_date.strftime("%d.%m.%Y"),
        child_name=view.child,
        school=view.school or texts(lang, "notice.school_unknown"),
        case_number=view.number,
    )
    text = "\n\n".join(
        [
            body,
            validity_text(texts, lang, view),
            consent_text(svc, lang).text,
            f"<b>{texts(lang, 'consent.question')}</b>",
        ]
    )
    choices = (
        (
            Choice(Act.AGREE, texts(lang, "consent.agree_button"), view.case_id),
            Choice(Act.DECLINE, texts(lang, "consent.decline_button"), view.case_id),
        ),
    )
    return text_message(dedupe_key, kind, chat_id, text, case_id=view.case_id, choices=choices)
