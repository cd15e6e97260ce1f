"""Whole flows in Kazakh and Russian, accepted and refused: every message the guardian and
the school chat got, and the text of every PDF, read without the faults a native editor
marked (tests/text_faults.py); names declined, the address in the annex's order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from bot.emulator import SentMessage
from bot.emulator.handles import MemberHandle
from tests.e2e.harness import (
    Stack,
    fragment,
    pdf_words,
    running_stack,
    shown,
    signal_for,
    wait_for_status,
)
from tests.factories import make_iin, make_phone
from tests.text_faults import faults

pytestmark = pytest.mark.slow

STAFF_ID = 800_000_412


@dataclass(frozen=True)
class People:
    """The family and the school as the registry and the health system name them."""

    child: str
    guardian: str
    guardian_female: bool
    school: dict[str, str]
    address: str
    staff_first: str
    staff_last: str
    reason: str
    position: str


PEOPLE = {
    "kk": People(
        child="Сейтқали Әлихан Нұрланұлы",
        guardian="Сейтқали Айгүл Маратқызы",
        guardian_female=True,
        school={
            "name_kk": "Қаскелең қаласындағы № 12 жалпы орта білім беретін мектеп",
            "name_ru": "Общеобразовательная школа № 12 г. Каскелен",
            "authority_kk": "Алматы облысының білім басқармасы",
            "authority_ru": "Управление образования Алматинской области",
        },
        address="Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10",
        staff_first="Гүлнар",
        staff_last="Ахметова",
        reason="ДКК қорытындысындағы баланың ЖСН-і туу туралы куәлікпен сәйкес келмейді.",
        position="Туу туралы куәліктің көшірмесін мектепке өзім апарамын.",
    ),
    "ru": People(
        child="Сейткали Алихан Нурланович",
        guardian="Сейткали Айгуль Маратовна",
        guardian_female=True,
        # Known by its Russian name only, so its staff chat speaks Russian too.
        school={
            "name_kk": "",
            "name_ru": "Общеобразовательная школа № 12 г. Каскелен",
            "authority_kk": "",
            "authority_ru": "Управление образования Алматинской области",
        },
        address="Алматинская область, Карасайский район, г. Каскелен, ул. Абая, 10",
        staff_first="Гульнар",
        staff_last="Ахметова",
        reason="ИИН ребёнка в заключении ВКК не совпадает со свидетельством о рождении.",
        position="Копию свидетельства о рождении я принесу в школу сама.",
    ),
}


def readable(message: SentMessage) -> list[str]:
    """What a person reads of one message: its text or caption, buttons, and PDF."""
    parts = [message.text or message.caption or "", *message.buttons()]
    if message.document is not None:
        parts.append(pdf_words(message.document))
    return [part for part in parts if part]


async def refuse_in_chat(
    stack: Stack, staff: MemberHandle, chat_id: int, on: SentMessage, lang: str, reason: str
) -> None:
    """Refuse on ground 1 from the staff chat, answering the reason question."""
    await staff.press(shown(stack, lang, "staff.refuse_button"), on)
    grounds = await stack.next_message(chat_id, fragment(stack, lang, "staff.choose_ground"))
    await staff.press(shown(stack, lang, "staff.ground_button", ground=1), grounds)
    question = await stack.next_message(chat_id, fragment(stack, lang, "staff.ask_reason"))
    await staff.reply_to(question, reason)


async def play(stack: Stack, lang: str, refuse: bool) -> tuple[list[SentMessage], str]:
    """The whole story through the chat; returns every message sent and the case id."""
    people = PEOPLE[lang]
    group = stack.emu.group(chat_id=-1001000000412, title="№ 12")
    school_bin = await stack.add_school(telegram_chat_id=group.id, **people.school)
    user = stack.emu.user(first_name="Айгүл", language_code=lang, phone=make_phone())
    await stack.link_guardian(user)
    await stack.next_message(user.chat_id, shown(stack, lang, "identity.no_cases"))
    born = date(2016, 3, 2)
    created = await signal_for(
        stack,
        user,
        school={"bin": school_bin, "grade": 4},
        child={"iin": make_iin(born), "full_name": people.child, "birth_date": born.isoformat()},
        guardian={
            "full_name": people.guardian,
            "iin": make_iin(date(1988, 6, 1), female=people.guardian_female),
        },
    )
    case_id = str(created["case_id"])
    await stack.next_message(user.chat_id, shown(stack, lang, "consent.question"))
    await wait_for_status(stack, case_id, "notified")
    await user.press(shown(stack, lang, "consent.agree_button"))
    await stack.next_message(user.chat_id, fragment(stack, lang, "form.ask_address")[:20])
    await user.send_text(people.address)
    await stack.next_message(user.chat_id, fragment(stack, lang, "form.summary"))
    await user.press(shown(stack, lang, "form.confirm_button"))
    await wait_for_status(stack, case_id, "forwarded")
    staff = group.member(STAFF_ID, people.staff_first, last_name=people.staff_last)
    package = await stack.emu.wait_for_message(
        group.id, lambda m: m.document is not None, timeout=stack.patience
    )
    if refuse:
        # The first refusal is preliminary: the guardian is heard, then the school decides.
        await refuse_in_chat(stack, staff, group.id, package, lang, people.reason)
        await wait_for_status(stack, case_id, "hearing")
        await stack.next_message(user.chat_id, fragment(stack, lang, "hearing.invitation"))
        await user.send_text(people.position)
        await stack.next_message(user.chat_id, fragment(stack, lang, "hearing.position_received"))
        heard = await stack.emu.wait_for_message(
            group.id, lambda m: people.position in (m.text or ""), timeout=stack.patience
        )
        await refuse_in_chat(stack, staff, group.id, heard, lang, people.reason)
        await wait_for_status(stack, case_id, "refused")
        await stack.next_message(user.chat_id, fragment(stack, lang, "result.refused"))
    else:
        await staff.press(shown(stack, lang, "staff.accept_button"), package)
        await wait_for_status(stack, case_id, "accepted")
        await stack.emu.wait_for_message(
            user.chat_id,
            lambda m: m.document is not None and "receipt" in (m.document_filename or ""),
            timeout=stack.patience,
        )
    await stack.next_message(
        group.id, fragment(stack, lang, f"staff.{'refused' if refuse else 'accepted'}_done")
    )
    for command, answer in (("/status", "status.header"), ("/help", "help.text")):
        await user.send_command(command)
        await stack.next_message(user.chat_id, fragment(stack, lang, answer))
    return [*stack.emu.sent(user.chat_id), *stack.emu.sent(group.id)], case_id


@pytest.mark.parametrize("refuse", [False, True], ids=["accepted", "refused"])
@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_whole_flow_reads_as_official_language(
    tmp_path: Path, lang: str, refuse: bool
) -> None:
    async with running_stack(tmp_path) as stack:
        messages, _ = await play(stack, lang, refuse)

    found = {
        part[:60]: problems
        for message in messages
        for part in readable(message)
        if (problems := faults(part, lang))
    }
    documents = [m for m in messages if m.document is not None]

    assert found == {}
    # the copy, the package, then the receipt, or the refusal and the school's copy of it
    assert len(documents) == (4 if refuse else 3)


async def test_russian_flow_declines_names_and_prints_the_annex_order(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        messages, _ = await play(stack, "ru", refuse=False)

    text = " ".join(part for message in messages for part in readable(message))

    assert "Уважаемая Айгуль Маратовна!" in text
    assert "ребёнку Сейткали Алихану Нурлановичу" in text
    assert "от Сейткали Айгуль Маратовны" in text
    assert "моего сына Сейткали Алихана Нурлановича" in text
    assert "по адресу: ул. Абая, 10, Карасайский район, г. Каскелен, Алматинская область," in text
    assert "в 4 классе организации образования «Общеобразовательная школа № 12 г. Каскелен»" in text
    assert (
        "Документы приняты" in text and "сотрудник организации образования Гульнар Ахметова" in text
    )
    assert "Окончание срока" not in text


async def test_kazakh_flow_uses_case_endings_and_names_who_accepted(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        messages, _ = await play(stack, "kk", refuse=False)

    text = " ".join(part for message in messages for part in readable(message))

    assert "Құрметті Айгүл Маратқызы!" in text
    assert "Алматы облысының білім басқармасының басшысына" in text
    assert (
        "мектептің 4-сыныбында оқу үшін Абай к-сі, 10, Қарасай ауданы, Қаскелең қ., Алматы" in text
    )
    assert "менің балам Сейтқали Әлихан Нұрланұлын" in text
    assert "18:30-ға дейін" in text or "17:30-ға дейін" in text
    assert "Құжаттар қабылданды" in text and "қызметкері Гүлнар Ахметова" in text
    assert "Мерзімнің аяқталуы" not in text
