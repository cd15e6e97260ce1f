"""Every catalog message, rendered with typical values, reads as official kk / ru: none of
the faults a native editor marked (tests/text_faults.py), the grounds in full wording."""

from __future__ import annotations

import html
import re

import pytest

from bot.texts import Lang, Person, Texts, placeholders
from tests.text_faults import faults

TEXTS = Texts()
_MOMENT = "07.12.2026 17:30"
SAMPLES: dict[str, object] = {
    "deadline": _MOMENT,
    "registered": "03.12.2026 10:00",
    "consent_at": "03.12.2026 10:00",
    "date": "03.12.2026",
    "conclusion_date": "03.12.2026",
    "birth_date": "02.03.2016",
    "min": 10,
    "max": 300,
    "count": 2,
    "grade": 4,
    "ground": 1,
    "case_number": "A0A4BC76",
    "registration_number": "2026/00001",
    "child_iin": "120901545672",
    "school_bin": "040540000122",
    "guardian_name": Person("Сейткали Айгуль Маратовна", "f"),
    "child_name": Person("Сейткали Алихан Нурланович", "m"),
    "link": "https://t.me/homeschool_bot?start=abc",
}


def rendered(lang: Lang, key: str) -> str:
    """The message as a person reads it: typical values in, HTML tags out."""
    template = TEXTS.catalog(lang).messages[key]
    params = {name: SAMPLES.get(name, "Қаскелең") for name in placeholders(template)}
    return html.unescape(re.sub(r"<[^>]+>", "", TEXTS(lang, key, **params)))


@pytest.mark.parametrize("lang", list(Lang))
def test_every_catalog_message_reads_without_faults(lang: Lang) -> None:
    found = {
        key: problems
        for key in TEXTS.catalog(lang).messages
        if (problems := faults(rendered(lang, key), lang.value))
    }

    assert found == {}


@pytest.mark.parametrize(
    ("lang", "phrases"),
    [
        (
            Lang.KK,
            {
                "ground.1": ["көрсетілетін қызметті алушы ұсынған", "дұрыс еместігі анықталған"],
                "ground.2": ["объектілердің", "Қазақстан Республикасының нормативтік құқықтық"],
                "ground.3": ["Заңының 8-бабына сәйкес берілетін", "қолжетімділігі шектеулі"],
            },
        ),
        (
            Lang.RU,
            {
                "ground.1": ["представленных услугополучателем", "недостоверности"],
                "ground.2": ["объектов", "нормативными правовыми актами Республики Казахстан"],
                "ground.3": ["статьёй 8 Закона Республики Казахстан", "ограниченного доступа"],
            },
        ),
    ],
)
def test_grounds_use_the_full_wording_of_annex_1_item_9(
    lang: Lang, phrases: dict[str, list[str]]
) -> None:
    messages = TEXTS.catalog(lang).messages
    missing = [
        (key, p) for key, wanted in phrases.items() for p in wanted if p not in messages[key]
    ]

    assert missing == []


@pytest.mark.parametrize(
    ("lang", "text", "rule"),
    [
        ("kk", "№ 12 өтініш бойынша өтініш берілді.", "doubled noun"),
        ("kk", "«Қаскелең № 12 мектеп» мектебіне берілді.", "doubled noun"),
        ("kk", "Мектеп 18:30 дейін жауап береді.", "no dative before дейін"),
        ("kk", "Мекенжай 10-ден 300 таңбаға дейін.", "vowel harmony"),
        ("kk", "Себеп 5-нан 1000 таңбаға дейін.", "vowel harmony"),
        ("kk", "Нөмір сіздің баланың заңды өкілі екеніңізді растайды.", "сіздің баланың"),
        ("kk", "Біз тарапта қате орын алды.", "Біз тарапта"),
        ("kk", "Ағымдағы қадам болдырылмады.", "болдырылмады"),
        ("kk", "Мектеп № 12 өтінім бойынша бас тартты.", "бас тартты without its object"),
        ("kk", "Денсаулық сақтау жүйесі қорытындыны кері қайтарды.", "кері қайтарды"),
        ("kk", "құжаттардың анық еместігінің анықталуы", "ground 1"),
        ("ru", "Уважаемый(ая) Айгуль Маратовна!", "gender in brackets"),
        ("ru", "✅ Согласен(на)", "gender in brackets"),
        ("ru", "Я передумал(а)", "gender in brackets"),
        ("ru", "рекомендовано ребёнку Сейткали Алихан Нурланович", "undeclined name"),
        ("ru", "от Сейткали Айгуль Маратовна", "undeclined name"),
        ("ru", "Прошу принять моего сына Сейткали Алихан Нурланович", "undeclined name"),
        ("ru", "Руководителю Управление образования", "nominative after руководителю"),
        ("ru", "в 4 классе Общеобразовательная школа № 12", "nominative after классе"),
        ("ru", "Школа «Общеобразовательная школа № 12» приняла", "doubled noun"),
        ("ru", "Вы не дали согласие.", "не дали согласие"),
        ("ru", "на обучение в 4 классе на индивидуальное бесплатное обучение", "обучение twice"),
        ("ru", "ВКК «Карасайская районная больница» выдала", "ВКК «…»"),
        ("ru", "Документы принял: школа № 12", "Документы принял"),
        ("ru", "03.12.2026 10:00 (Asia/Almaty)", "time-zone id"),
        ("kk", "келісім (SHA-256 3f2a9c)", "hash"),
        ("ru", "канал (чат или webhook)", "technical word"),
        ("kk", "Арнаны қосу: homeschool-bot schools invite 0405", "command line"),
        ("ru", "версия текста согласия: 2026-11.1", "consent version"),
        ("ru", "решение: telegram:700000112@-100", "internal code"),
        ("ru", "Срок ответа: до {deadline}", "unfilled placeholder"),
        ("kk", "Мектеп: None", "unfilled placeholder"),
    ],
)
def test_faults_finds_each_fault_the_editor_marked(lang: str, text: str, rule: str) -> None:
    assert any(found.startswith(rule) for found in faults(text, lang)), faults(text, lang)


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("kk", "№ 12 өтінім бойынша өтініш мектепке берілді, 07.12.2026 17:30-ға дейін."),
        ("kk", "Мекенжай 10-нан 300 таңбаға дейін; себеп 5-тен 1000 таңбаға дейін."),
        ("kk", "Мектеп мемлекеттік қызмет көрсетуден бас тартты. egov.kz, /status, Telegram."),
        ("ru", "Уважаемая Айгуль Маратовна! Ребёнку Сейткали Алихану Нурлановичу, от Сейткали"),
        ("ru", "в 4 классе организации образования «Общеобразовательная школа № 12»"),
        ("ru", "Документы приняты: 03.12.2026 10:05 (время Астаны). Вы не дали согласия."),
    ],
)
def test_faults_passes_the_corrected_wording(lang: str, text: str) -> None:
    assert faults(text, lang) == []
