"""The guardian's whole story in Kazakh and in Russian, through the real app and emulator.

Both guardians apply at the same time in one process: each chat is paced on its own
(1 message a second), so two stories cost the time of one.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
from pathlib import Path

import pytest

from bot.grammar import Case, kk_case, ru_name, sex_from_iin
from bot.texts import Lang
from bot.usecases.notices import CONSENT_VERSION, consent_text
from tests.conftest import ALMATY
from tests.e2e.harness import (
    Stack,
    audit_events,
    chat_texts,
    consent_records,
    documents,
    fragment,
    linked_guardian,
    load_case,
    next_document,
    pdf_words,
    presses,
    running_stack,
    shown,
    signal_for,
    stored_consent_text,
)

pytestmark = pytest.mark.slow

ADDRESS = {
    "kk": "Алматы облысы, Қарасай ауданы, Қаскелең қ., Шаһар к-сі, 10",
    "ru": "Алматинская область, Карасайский район, г. Каскелен, ул. Абая, 10",
}
# The application prints the address in the order of annex 2: locality, district, city, region.
ANNEX_ADDRESS = {
    "kk": "Шаһар к-сі, 10, Қарасай ауданы, Қаскелең қ., Алматы облысы",
    "ru": "ул. Абая, 10, Карасайский район, г. Каскелен, Алматинская область",
}
KAZAKH_LETTERS = "әғқңөұүһі"


async def apply_in_two_taps(stack: Stack, lang: str) -> str:
    """A linked guardian agrees, types the address and confirms; returns the PDF text."""
    user = await linked_guardian(stack, lang)
    school_bin = await stack.add_school()
    created = await signal_for(stack, user, school={"bin": school_bin, "grade": 4})
    case_id = str(created["case_id"])
    child = created["payload"]["child"]["full_name"]
    # Russian names the child in the dative («ребёнку …»), the sex read from the IIN.
    sex = sex_from_iin(created["payload"]["child"]["iin"])
    named = child if lang == "kk" else ru_name(child, Case.DATIVE, sex)

    notice = await stack.next_message(user.chat_id, shown(stack, lang, "consent.question"))
    assert named in (notice.text or "")
    consent = consent_text(stack.app.svc, Lang(lang))
    assert html.unescape(re.sub(r"<[^>]+>", "", consent.text)) in (notice.text or "")
    validity = shown(stack, lang, "conclusion.valid_until", valid_until="31.05.2027")
    assert validity in (notice.text or "")
    taps_before = presses(stack, user)
    await user.press(shown(stack, lang, "consent.agree_button"))
    await stack.next_message(user.chat_id, shown(stack, lang, "form.ask_address"))
    await user.send_text(ADDRESS[lang])
    summary = await stack.next_message(user.chat_id, fragment(stack, lang, "form.summary"))
    assert ADDRESS[lang] in (summary.text or "")
    assert child in (summary.text or "")
    assert validity in (summary.text or "")
    await user.press(shown(stack, lang, "form.confirm_button"))
    copy = await next_document(stack, user.chat_id)

    assert presses(stack, user) - taps_before == 2
    case = await load_case(stack, case_id)
    assert case.status == "submitted"
    assert case.deadline_at is not None
    [record] = await consent_records(stack, case_id)
    assert (record.choice, record.text_version, record.text_sha256) == (
        "agree",
        CONSENT_VERSION,
        hashlib.sha256(consent.text.encode()).hexdigest(),
    )
    stored = await stored_consent_text(stack, record.text_sha256)
    assert (stored.version, stored.language, stored.text) == (CONSENT_VERSION, lang, consent.text)
    assert record.telegram_user_id == user.id
    assert copy.document is not None
    [document] = await documents(stack, case_id)
    assert (document.kind, document.language) == ("application", lang)
    assert document.sha256 == hashlib.sha256(copy.document).hexdigest()
    events = [e.event for e in await audit_events(stack, case_id)]
    assert events[:4] == [
        "signal_received",
        "notice_sent",
        "consent_given",
        "application_confirmed",
    ]

    deadline = case.deadline_at.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M")
    assert deadline in (copy.caption or "")
    await user.send_command("/status")
    status = await stack.next_message(user.chat_id, fragment(stack, lang, "status.header"))
    assert shown(stack, lang, "status.deadline", deadline=deadline) in (status.text or "")
    assert shown(stack, lang, "status.submitted") in (status.text or "")
    assert shown(stack, lang, "error.generic") not in chat_texts(stack, user.chat_id)
    text = pdf_words(copy.document)
    assert ANNEX_ADDRESS[lang] in text
    accepted = (
        kk_case(child, Case.ACCUSATIVE) if lang == "kk" else ru_name(child, Case.ACCUSATIVE, sex)
    )
    assert accepted in text  # «менің балам …-ұлын», «моего сына …»
    return text


async def test_happy_path_kazakh_and_russian_guardians_apply_in_two_taps(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        kazakh, russian = await asyncio.gather(
            apply_in_two_taps(stack, "kk"), apply_in_two_taps(stack, "ru")
        )

    assert [letter for letter in KAZAKH_LETTERS if letter not in kazakh.lower()] == []
    assert "Өтініш" in kazakh
    assert "Заявление" in russian
    assert "Өтініш" not in russian
