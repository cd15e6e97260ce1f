"""The first message about a case: who, what the VKK concluded, and the consent request."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.callbacks import CaseAction, CaseCb
from bot.delivery.outbox import Kind, OutgoingMessage
from bot.services.case_views import CaseView, validity_text
from bot.services.messages import text_message
from bot.texts import Lang, Texts

CONSENT_VERSION = "2026-11.1"


@dataclass(frozen=True)
class ConsentText:
    version: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def consent_text(texts: Texts, lang: Lang) -> ConsentText:
    """The exact consent wording shown to the guardian; its hash is the evidence kept."""
    return ConsentText(CONSENT_VERSION, texts(lang, "consent.text"))


def notice_message(
    texts: Texts, lang: Lang, view: CaseView, chat_id: int, dedupe_key: str, kind: Kind
) -> OutgoingMessage:
    """The notice with the versioned consent text and Agree / Decline buttons."""
    body = texts(
        lang,
        "notice.body",
        guardian_name=view.guardian_name,
        organization=view.conclusion_organization,
        number=view.conclusion_number,
        date=view.conclusion_date.strftime("%d.%m.%Y"),
        child_name=view.child_name,
        school=view.school or texts(lang, "notice.school_unknown"),
        case_number=view.number,
    )
    text = "\n\n".join(
        [
            body,
            validity_text(texts, lang, view),
            consent_text(texts, lang).text,
            f"<b>{texts(lang, 'consent.question')}</b>",
        ]
    )
    buttons = [
        [
            (
                texts(lang, "consent.agree_button"),
                CaseCb(case_id=view.case_id, action=CaseAction.AGREE),
            ),
            (
                texts(lang, "consent.decline_button"),
                CaseCb(case_id=view.case_id, action=CaseAction.DECLINE),
            ),
        ]
    ]
    return text_message(dedupe_key, kind, chat_id, text, case_id=view.case_id, buttons=buttons)
