"""The reasoned refusal PDF: what it must state in each language, read back with pypdf."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from bot.documents import RefusalData, render_refusal
from bot.texts import Texts

Lang = Literal["kk", "ru"]
ALMATY = ZoneInfo("Asia/Almaty")
TEXTS = Texts()
POSITION = "Мекенжай дұрыс: біз қазан айында көштік, анықтама бар."


def make_refusal(language: Lang = "ru", **overrides: object) -> RefusalData:
    values: dict[str, object] = {
        "case_number": "1A2B3C4D",
        "language": language,
        "school_name": "КГУ «Общеобразовательная школа № 12»",
        "guardian_full_name": "Серікова Әйгерім Ғалымқызы",
        "child_full_name": "Серіков Нұрлан Қайратұлы",
        "ground": 2,
        "ground_text": TEXTS(language, "ground.2"),
        "reason": "Адрес в заявлении не совпадает с адресом в заключении ВКК",
        "hearing_started_at": datetime(2026, 11, 25, 10, 0, tzinfo=ALMATY),
        "hearing_until": datetime(2026, 11, 27, 18, 30, tzinfo=ALMATY),
        "answered": True,
        "position": POSITION,
        "decided_at": datetime(2026, 11, 26, 11, 5, tzinfo=ALMATY),
        "decided_by": "Марина Ким",
    }
    values.update(overrides)
    return RefusalData(**values)  # type: ignore[arg-type]


def words(document: bytes) -> str:
    """The text of every page, whitespace collapsed, without the page footer."""
    pages = PdfReader(io.BytesIO(document)).pages
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in pages)
    return text.split(" Бет 1 / ")[0].split(" Стр. 1 / ")[0]


PHRASES: dict[Lang, list[str]] = {
    "kk": [
        "Мемлекеттік қызмет көрсетуден дәлелді бас тарту",
        "Іс нөмірі 1A2B3C4D",
        "Көрсетілетін қызметті алушы (заңды өкіл) Серікова Әйгерім Ғалымқызы",
        "Бала Серіков Нұрлан Қайратұлы",
        "(Қағидаларға 1-қосымшаның 9-тармағының 2) тармақшасы)",
        "Бас тарту себебі Адрес в заявлении не совпадает с адресом в заключении ВКК",
        "25.11.2026 10:00 (Астана уақыты) жіберілді",
        "ұстаным білдірудің соңғы мерзімі: 27.11.2026 18:30 (Астана уақыты)",
        f"Көрсетілетін қызметті алушының ұстанымы {POSITION}",
        "Шешім қабылданған күні мен уақыты 26.11.2026 11:05 (Астана уақыты)",
        "Шешім қабылдаған Марина Ким",
        "Шағымдану тәртібі",
        "Әкімшілік рәсімдік-процестік кодексінің 91-бабына сәйкес",
        "мемлекеттік қызметтер көрсету сапасын бағалау және бақылау жөніндегі уәкілетті органға",
        "сотқа жүгінуге болады",
        "Бірыңғай байланыс орталығы: 1414, 8-800-080-7777.",
    ],
    "ru": [
        "Мотивированный отказ в оказании государственной услуги",
        "Номер дела 1A2B3C4D",
        "Услугополучатель (законный представитель) Серікова Әйгерім Ғалымқызы",
        "Ребёнок Серіков Нұрлан Қайратұлы",
        "(подпункт 2) пункта 9 приложения 1 к Правилам)",
        "Причина отказа Адрес в заявлении не совпадает с адресом в заключении ВКК",
        "предварительное решение направлено услугополучателю 25.11.2026 10:00 (время Астаны)",
        "срок представления позиции: до 27.11.2026 18:30 (время Астаны)",
        f"Позиция услугополучателя {POSITION}",
        "Дата и время решения 26.11.2026 11:05 (время Астаны)",
        "Решение принял Марина Ким",
        "Порядок обжалования",
        "статьёй 91 Административного процедурно-процессуального кодекса",
        "уполномоченный орган по оценке и контролю за качеством оказания государственных услуг",
        "обжаловано в суде",
        "Единый контакт-центр по вопросам оказания государственных услуг: 1414, 8-800-080-7777.",
    ],
}


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_render_refusal_states_case_ground_reason_position_time_decider_appeal(
    language: Lang,
) -> None:
    text = words(render_refusal(make_refusal(language)))

    missing = [phrase for phrase in PHRASES[language] if phrase not in text]

    assert missing == []
    assert " ".join(TEXTS(language, "ground.2").split()) in text
    assert "Asia/Almaty" not in text


@pytest.mark.parametrize(
    ("language", "answered", "expected"),
    [
        ("kk", True, "Көрсетілетін қызметті алушы қарсылығы жоқ екенін білдірді."),
        ("kk", False, "Белгіленген мерзімде ұстаным білдірілмеді."),
        ("ru", True, "Услугополучатель сообщил об отсутствии возражений."),
        ("ru", False, "В установленный срок позиция не представлена."),
    ],
)
def test_render_refusal_without_a_typed_position_says_what_was_heard(
    language: Lang, answered: bool, expected: str
) -> None:
    text = words(render_refusal(make_refusal(language, answered=answered, position=None)))

    assert expected in text
    assert POSITION not in text


def test_render_refusal_same_input_same_bytes() -> None:
    assert render_refusal(make_refusal()) == render_refusal(make_refusal())
