"""PDF builders: wording per language, Kazakh glyphs, hostile input, deterministic bytes."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from pypdf import PdfReader

from bot.documents import ApplicationData, ReceiptData, render_application, render_receipt
from bot.documents.text import REPLACEMENT, clean_text, format_datetime, join_present
from bot.documents.typesetting import FONT_FILES

Lang = Literal["kk", "ru"]
ALMATY = timezone(timedelta(hours=5))
KAZAKH_LETTERS = "әғқңөұүһіӘҒҚҢӨҰҮҺІ"
SPACED_LETTERS = " ".join(KAZAKH_LETTERS)
ROOT = Path(__file__).resolve().parents[2]


def make_application(**overrides: object) -> ApplicationData:
    values: dict[str, object] = {
        "case_number": "HS-2025-000123",
        "language": "ru",
        "authority_name": "ГУ «Управление образования города Астаны»",
        "guardian_full_name": "Серікова Әйгерім Ғалымқызы",
        "child_full_name": "Серіков Нұрлан Қайратұлы",
        "child_sex": "m",
        "child_birth_date": date(2015, 3, 14),
        "locality": "Қосшы",
        "district": "Целиноград ауданы",
        "city": "",
        "region": "Ақмола облысы",
        "grade": 5,
        "school_name": "КГУ «Общеобразовательная школа № 12»",
        "conclusion_number": "ДКК-0457",
        "conclusion_date": date(2025, 3, 10),
        "conclusion_organization": f"Емхана {SPACED_LETTERS}",
        "note": "Бала арбамен қозғалады.",
        "consent_at": datetime(2025, 3, 14, 10, 5, tzinfo=ALMATY),
        "created_at": datetime(2025, 3, 14, 10, 12, tzinfo=ALMATY),
        "telegram_user_id": 700000101,
        "guardian_sex": "f",
    }
    values.update(overrides)
    return ApplicationData(**values)  # type: ignore[arg-type]


def make_receipt(**overrides: object) -> ReceiptData:
    values: dict[str, object] = {
        "case_number": "HS-2025-000123",
        "language": "ru",
        "school_name": "КГУ «Общеобразовательная школа № 12»",
        "registration_number": "ВХ-2025/318",
        "registered_at": datetime(2025, 3, 14, 11, 0, tzinfo=ALMATY),
        "accepted_at": datetime(2025, 3, 14, 11, 1, tzinfo=ALMATY),
        "accepted_by_staff": None,
        "guardian_full_name": "Серікова Әйгерім Ғалымқызы",
        "child_full_name": "Серіков Нұрлан Қайратұлы",
        "conclusion_number": "ДКК-0457",
        "conclusion_date": date(2025, 3, 10),
        "conclusion_organization": f"Емхана {SPACED_LETTERS}",
        "issued_at": datetime(2025, 3, 14, 11, 1, tzinfo=ALMATY),
    }
    values.update(overrides)
    return ReceiptData(**values)  # type: ignore[arg-type]


def pdf_text(document: bytes) -> str:
    """Extract the text of every page with whitespace (line breaks, no-break spaces) collapsed."""
    reader = PdfReader(io.BytesIO(document))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def squash(text: str) -> str:
    return "".join(text.split())


APPLICATION_PHRASES: dict[Lang, list[str]] = {
    "kk": [
        "ГУ «Управление образования города Астаны»-ның басшысына",
        "(жергілікті атқарушы органның атауы)",
        "(Т.А.Ә. (болған жағдайда))",
        "Өтініш",
        "КГУ «Общеобразовательная школа № 12»-нің 5-сыныбында оқу үшін",
        "Қосшы, Целиноград ауданы, Ақмола облысы мекенжайында тұратын",
        "менің балам Серіков Нұрлан Қайратұлын (туған күні: 14.03.2015)",
        "үйде жеке тегін оқытуға қабылдауыңызды сұраймын.",
        "10.03.2025 жылғы № ДКК-0457 ДКК қорытындысы (медициналық ұйым: Емхана",
        "Ескертпе: Бала арбамен қозғалады.",
        "Дербес деректерді жинауға және өңдеуге келісім 14.03.2025 10:05 (Астана уақыты) берілді.",
        "Күні: 14.03.2025",
        "Өтініш беруші: Серікова Әйгерім Ғалымқызы",
        "Қолы: ____________",
        "Электрондық түрде расталды: Telegram аккаунты (ID 700000101), 14.03.2025 10:12",
        "Іс нөмірі: HS-2025-000123",
        "Проактивті арна арқылы қалыптастырылды",
        "14.03.2025 10:12 (Астана уақыты)",
        "Бет 1 / 1",
    ],
    "ru": [
        "Руководителю ГУ «Управление образования города Астаны»",
        "(наименование местного исполнительного органа)",
        "от Серіковой Әйгерім Ғалымқызы",
        "Заявление",
        "Прошу принять моего сына Серікова Нұрлана Қайратұлы (дата рождения: 14.03.2015)",
        "проживающего по адресу: Қосшы, Целиноград ауданы, Ақмола облысы,",
        "на индивидуальное бесплатное обучение на дому в 5 классе "
        "КГУ «Общеобразовательная школа № 12».",
        "Основание: заключение ВКК № ДКК-0457 от 10.03.2025 (медицинская организация: Емхана",
        "с рекомендациями по обучению на дому",
        "Примечание: Бала арбамен қозғалады.",
        "Согласие на сбор и обработку персональных данных дано 14.03.2025 10:05 (время Астаны).",
        "Дата: 14.03.2025",
        "Заявитель: Серікова Әйгерім Ғалымқызы",
        "Подпись: ____________",
        "Подтверждено электронно: аккаунт Telegram (ID 700000101), 14.03.2025 10:12",
        "Номер дела: HS-2025-000123",
        "Сформировано через проактивный канал",
        "14.03.2025 10:12 (время Астаны)",
        "Стр. 1 / 1",
    ],
}

RECEIPT_PHRASES: dict[Lang, list[str]] = {
    "kk": [
        "Құжаттарды қабылдау туралы қолхат",
        "үйде жеке тегін оқытуды ұйымдастыру үшін құжаттар қабылдау",
        "Көрсетілетін қызметті беруші (білім беру ұйымы)",
        "Тіркеу нөмірі ВХ-2025/318",
        "Тіркелген күні мен уақыты 14.03.2025 11:00 (Астана уақыты)",
        "Көрсетілетін қызметті алушы (заңды өкіл) Серікова Әйгерім Ғалымқызы",
        "Бала Серіков Нұрлан Қайратұлы",
        "1) өтініш (еркін нысанда);",
        "2) 10.03.2025 жылғы № ДКК-0457 ДКК қорытындысы",
        "денсаулық сақтаудың ақпараттық жүйесінен алынған",
        "Мемлекеттік қызмет көрсету мерзімі 2 жұмыс күні",
        "Құжаттар қабылданды 14.03.2025 11:01 (Астана уақыты), білім беру ұйымының ақпараттық "
        "жүйесі арқылы: КГУ «Общеобразовательная школа № 12»",
        "Іс нөмірі: HS-2025-000123",
        "Проактивті арна арқылы қалыптастырылды",
    ],
    "ru": [
        "Расписка о приёме документов",
        "индивидуального бесплатного обучения на дому",
        "Услугодатель (организация образования) КГУ «Общеобразовательная школа № 12»",
        "Регистрационный номер ВХ-2025/318",
        "Дата и время регистрации 14.03.2025 11:00 (время Астаны)",
        "Номер дела HS-2025-000123",
        "Услугополучатель (законный представитель) Серікова Әйгерім Ғалымқызы",
        "Ребёнок Серіков Нұрлан Қайратұлы",
        "1) заявление (в произвольной форме);",
        "2) заключение ВКК № ДКК-0457 от 10.03.2025",
        "получено из информационной системы здравоохранения",
        "Срок оказания государственной услуги 2 рабочих дня",
        "Документы приняты 14.03.2025 11:01 (время Астаны), через информационную систему "
        "организации образования: КГУ «Общеобразовательная школа № 12»",
        "Сформировано через проактивный канал",
    ],
}


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_render_application_language_has_annex2_wording(language: Lang) -> None:
    text = pdf_text(render_application(make_application(language=language)))

    missing = [phrase for phrase in APPLICATION_PHRASES[language] if phrase not in text]

    assert missing == []


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_render_receipt_language_has_receipt_wording(language: Lang) -> None:
    text = pdf_text(render_receipt(make_receipt(language=language)))

    missing = [phrase for phrase in RECEIPT_PHRASES[language] if phrase not in text]

    assert missing == []


@pytest.mark.parametrize("language", ["kk", "ru"])
@pytest.mark.parametrize("render", ["application", "receipt"])
def test_render_document_kazakh_letters_round_trip(language: Lang, render: str) -> None:
    if render == "application":
        document = render_application(make_application(language=language))
    else:
        document = render_receipt(make_receipt(language=language))

    text = pdf_text(document)

    assert [letter for letter in KAZAKH_LETTERS if letter not in text] == []
    assert SPACED_LETTERS in text


@pytest.mark.parametrize("style", sorted(FONT_FILES))
def test_embedded_font_style_covers_kazakh_letters(style: str) -> None:
    cmap = TTFont(FONT_FILES[style]).getBestCmap()

    assert [c for c in KAZAKH_LETTERS + REPLACEMENT + "№«»" if ord(c) not in cmap] == []


@pytest.mark.parametrize(
    ("language", "sex", "expected", "unexpected"),
    [
        ("ru", "m", ["моего сына", "проживающего по адресу"], ["мою дочь", "проживающую"]),
        ("ru", "f", ["мою дочь", "проживающую по адресу"], ["моего сына", "проживающего"]),
        ("kk", "m", ["менің балам"], ["қызым"]),
        ("kk", "f", ["менің қызым"], ["балам"]),
    ],
)
def test_render_application_child_sex_picks_son_or_daughter(
    language: Lang, sex: str, expected: list[str], unexpected: list[str]
) -> None:
    text = pdf_text(render_application(make_application(language=language, child_sex=sex)))

    assert [phrase for phrase in expected if phrase not in text] == []
    assert [phrase for phrase in unexpected if phrase in text] == []


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_render_application_empty_address_drops_address_clause(language: Lang) -> None:
    data = make_application(language=language, locality="", district="", city="", region="")

    text = pdf_text(render_application(data))

    assert "мекенжайында" not in text
    assert "по адресу" not in text
    assert "Қайратұлын (туған күні" in text or "Қайратұлы (дата рождения" in text


def test_render_application_some_address_parts_empty_joins_without_gaps() -> None:
    data = make_application(locality="", district="", city="Астана", region="")

    text = pdf_text(render_application(data))

    assert "проживающего по адресу: Астана, на индивидуальное бесплатное обучение" in text


def test_render_application_same_input_same_bytes() -> None:
    first = render_application(make_application())
    second = render_application(make_application())

    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_render_receipt_same_input_same_bytes() -> None:
    assert render_receipt(make_receipt()) == render_receipt(make_receipt())


def test_render_documents_other_process_same_sha256() -> None:
    """Bytes must not depend on per-process state such as string hash randomisation."""
    script = (
        "import hashlib, sys, tests.unit.test_documents as t\n"
        "sys.stdout.write(hashlib.sha256(t.render_application(t.make_application())).hexdigest()"
        " + hashlib.sha256(t.render_receipt(t.make_receipt())).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, check=True
    )
    expected = (
        hashlib.sha256(render_application(make_application())).hexdigest()
        + hashlib.sha256(render_receipt(make_receipt())).hexdigest()
    )

    assert result.stdout.decode() == expected


def test_render_application_creation_date_comes_from_created_at() -> None:
    created_at = datetime(2025, 3, 14, 10, 12, tzinfo=ALMATY)
    later = make_application(created_at=created_at + timedelta(minutes=1))

    reader = PdfReader(io.BytesIO(render_application(make_application(created_at=created_at))))

    assert reader.metadata is not None
    assert reader.metadata.creation_date == created_at
    assert render_application(later) != render_application(make_application())


def test_render_receipt_time_with_microseconds_is_dated_to_the_second() -> None:
    issued_at = datetime(2025, 3, 14, 11, 1, 7, 123456, tzinfo=ZoneInfo("Asia/Almaty"))

    reader = PdfReader(io.BytesIO(render_receipt(make_receipt(issued_at=issued_at))))

    assert reader.metadata is not None
    assert reader.metadata.creation_date == issued_at.replace(microsecond=0)


def test_render_application_long_note_is_wrapped_and_complete() -> None:
    words = " ".join(f"сөз{i}" for i in range(200))
    note = (words + " " + "ә" * 400)[:1000]

    text = pdf_text(render_application(make_application(note=note)))

    assert len(note) == 1000
    assert squash(note) in squash(text)


def test_render_application_note_keeps_line_breaks_and_drops_controls() -> None:
    note = "Бірінші жол\r\nЕкінші\tжол\x00\x1b[31m\n\n\n\nҮшінші"

    text = pdf_text(render_application(make_application(note=note)))

    assert "Бірінші жол Екінші жол[31m Үшінші" in text
    assert "\x1b" not in text


def test_render_documents_hostile_names_are_cleaned_not_fatal() -> None:
    name = "<b>Әлия</b> 👩‍👧‍👦 \x07Ким\u202e❤️ & {nb} %s"
    expected = f"<b>Әлия</b> {REPLACEMENT} Ким{REPLACEMENT} & {{nb}} %s"

    application = pdf_text(render_application(make_application(guardian_full_name=name)))
    receipt = pdf_text(render_receipt(make_receipt(child_full_name=name)))

    assert expected in application
    assert expected in receipt
    assert "\u202e" not in application + receipt


@pytest.mark.parametrize("note", ["", "  \n\t", "\x00\x07"])
def test_render_application_empty_note_has_no_note_line(note: str) -> None:
    text = pdf_text(render_application(make_application(note=note)))

    assert "Примечание" not in text


def test_render_receipt_very_long_values_flow_onto_next_page() -> None:
    name = "Ә" * 3000 + " " + "Қайратұлы " * 300
    document = render_receipt(make_receipt(guardian_full_name=name))

    reader = PdfReader(io.BytesIO(document))
    text = pdf_text(document)

    assert len(reader.pages) > 1
    assert f"Стр. 2 / {len(reader.pages)}" in text
    # The footer of each page lands inside the wrapped name, so count its pieces instead.
    assert text.count("Ә") == 3000 + 1  # the guardian's, and one in the conclusion's issuer
    assert text.count("Қайратұлы") == 300 + 1  # the guardian's, and the child's one
    assert "Документы приняты" in text


def test_render_application_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        render_application(make_application(created_at=datetime(2025, 3, 14, 10, 12)))


def test_render_documents_write_samples(tmp_path: Path) -> None:
    """Write one sample of each document, for looking at (`pdftoppm -png`)."""
    application = tmp_path / "application-kk.pdf"
    receipt = tmp_path / "receipt-ru.pdf"
    application.write_bytes(render_application(make_application(language="kk")))
    receipt.write_bytes(render_receipt(make_receipt(language="ru")))

    assert application.read_bytes().startswith(b"%PDF-")
    assert receipt.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("raw", "multiline", "expected"),
    [
        ("  Иванов \t Иван \n Иванович ", False, "Иванов Иван Иванович"),
        ("a\u200db\u00adc\u202ed", False, "abcd"),
        ("и\u0306", False, "й"),  # decomposed letter normalised to the font's glyph
        ("👨\u200d👩\u200d👧 x 🙂🙂", False, f"{REPLACEMENT} x {REPLACEMENT}"),
        ("a\n\n\n\nb\r\nc", True, "a\n\nb\nc"),
        ("\x00\x01\x7f", False, ""),
    ],
)
def test_clean_text_input_is_made_drawable(raw: str, multiline: bool, expected: str) -> None:
    supported = {ord(c) for c in "abcdxйиИванвоч "}

    assert clean_text(raw, supported, multiline=multiline) == expected


def test_join_present_skips_empty_and_repeated_parts() -> None:
    assert join_present(["Астана", "", "астана", " Алматы "]) == "Астана, Алматы"


def test_format_datetime_names_astana_time_not_a_zone_id() -> None:
    utc_time = datetime(2025, 3, 14, 5, 12, tzinfo=UTC)

    assert format_datetime(utc_time, "ru") == "14.03.2025 05:12 (UTC+00:00)"
    assert format_datetime(utc_time.astimezone(ALMATY), "kk") == "14.03.2025 10:12 (Астана уақыты)"
    almaty = utc_time.astimezone(ZoneInfo("Asia/Almaty"))
    assert format_datetime(almaty, "ru") == "14.03.2025 10:12 (время Астаны)"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "kk",
            "Құжаттар қабылданды 14.03.2025 11:01 (Астана уақыты), білім беру ұйымының "
            "қызметкері Гүлнар Ахметова (Telegram арқылы)",
        ),
        (
            "ru",
            "Документы приняты 14.03.2025 11:01 (время Астаны), сотрудник организации "
            "образования Гүлнар Ахметова (через Telegram)",
        ),
    ],
)
def test_render_receipt_names_the_staff_member_and_no_deadline(
    language: Lang, expected: str
) -> None:
    receipt = make_receipt(language=language, accepted_by_staff="Гүлнар Ахметова")

    text = pdf_text(render_receipt(receipt))

    assert expected in text
    assert "Мерзімнің аяқталуы" not in text and "Окончание срока" not in text
    assert "18:30" not in text
