"""The kk and ru catalogs say the same things with the same placeholders, and every key
the code asks for exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.delivery.senders import Undeliverable
from bot.domain.status import CaseStatus
from bot.texts import Lang, Texts, count_key, placeholders
from bot.usecases.case_views import validity_text, view_from_data

ROOT = Path(__file__).resolve().parents[2]
KEY_USE = re.compile(
    r"""(?:texts|\bt)\(\s*[\w.]+,\s*"([a-z_]+\.[a-z_.0-9]+)"|DomainError\(\s*"([a-z_]+\.[a-z_.0-9]+)\""""
)


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts()


def test_catalogs_have_identical_keys(texts: Texts) -> None:
    kk, ru = texts.catalog(Lang.KK).messages, texts.catalog(Lang.RU).messages
    assert sorted(set(kk) ^ set(ru)) == []


def test_catalogs_have_identical_placeholders(texts: Texts) -> None:
    kk, ru = texts.catalog(Lang.KK).messages, texts.catalog(Lang.RU).messages
    differing = {key for key in kk if placeholders(kk[key]) != placeholders(ru[key])}
    assert differing == set()


def test_every_key_used_in_code_exists(texts: Texts) -> None:
    known = set(texts.catalog(Lang.KK).messages)
    used: set[str] = set()
    for package in ("bot", "handlers", "scheduler"):
        for path in (ROOT / package).rglob("*.py"):
            for match in KEY_USE.finditer(path.read_text(encoding="utf-8")):
                used.add(match.group(1) or match.group(2))
    api_only = {
        "case.unknown",
        "signal.conflict",
        "signal.unknown",
        "signal.already_decided",
        "school.bad_bin",
        "school.unknown",
    }
    assert used, "the scan found no keys: the pattern is broken"
    assert sorted(used - known - api_only) == []


def test_placeholder_values_are_escaped(texts: Texts) -> None:
    rendered = texts(Lang.RU, "form.school_none", query="<b>x</b> & y")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in rendered


def test_official_terms_from_the_glossary_are_used(texts: Texts) -> None:
    assert "үйде жеке тегін оқыту" in texts(Lang.KK, "help.text").lower()
    assert "индивидуальное бесплатное обучение на дому" in texts(Lang.RU, "help.text").lower()
    assert "Дербес деректерді жинауға және өңдеуге келісім" in texts(
        Lang.KK, "consent.text", period="365 күн", withdrawal=""
    )
    assert "Согласие на сбор и обработку персональных данных" in texts(
        Lang.RU, "consent.text", period="365 дней", withdrawal=""
    )
    kk_receipt = texts.catalog(Lang.KK).messages["result.accepted"]
    ru_refusal = texts.catalog(Lang.RU).messages["result.refused"]
    assert "Құжаттарды қабылдау туралы қолхат" in kk_receipt
    assert "Мотивированный отказ в оказании государственной услуги" in ru_refusal


def test_every_undeliverable_reason_is_explained_in_both_languages(texts: Texts) -> None:
    """Escalations name the reason in words (`undeliverable.<reason>`), not a code."""
    for lang in Lang:
        missing = [
            reason.value
            for reason in Undeliverable
            if f"undeliverable.{reason.value}" not in texts.catalog(lang).messages
        ]
        assert missing == [], lang


@pytest.mark.parametrize(
    ("lang", "valid_until", "expected"),
    [
        (Lang.KK, "2027-05-31", "ДКК қорытындысының жарамдылық мерзімі: 31.05.2027."),
        (Lang.RU, "2027-05-31", "Срок действия заключения ВКК: до 31.05.2027."),
        (Lang.KK, None, "ДКК қорытындысының жарамдылық мерзімі көрсетілмеген."),
        (Lang.RU, None, "Срок действия заключения ВКК не указан."),
    ],
)
def test_conclusion_validity_is_a_date_or_says_it_is_not_given(
    texts: Texts, lang: Lang, valid_until: str | None, expected: str
) -> None:
    pd = {
        "child": {
            "full_name": "Сейтқали Әлихан",
            "iin": "150314601232",
            "birth_date": "2015-03-14",
        },
        "guardian": {"full_name": "Сейтқали Айгүл"},
        "conclusion": {"number": "1", "date": "2026-11-24", "organization": "ДКК"},
    }
    if valid_until is not None:
        pd["conclusion"]["valid_until"] = valid_until
    view = view_from_data("c", CaseStatus.NOTIFIED, pd, None, 4, None, lang)
    assert validity_text(texts, lang, view) == expected


@pytest.mark.parametrize(
    ("n", "ru"),
    [
        (1, "1 день"),
        (2, "2 дня"),
        (4, "4 дня"),
        (5, "5 дней"),
        (11, "11 дней"),
        (12, "12 дней"),
        (21, "21 день"),
        (22, "22 дня"),
        (111, "111 дней"),
        (365, "365 дней"),
        (1001, "1001 день"),
    ],
)
def test_days_are_counted_in_russian_and_kazakh(texts: Texts, n: int, ru: str) -> None:
    assert texts(Lang.RU, count_key("period.days", n), n=n) == ru
    assert texts(Lang.KK, count_key("period.days", n), n=n) == f"{n} күн"
