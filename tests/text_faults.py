"""Faults a native editor of official Kazakh and Russian marks in a text people read.

`faults(text, lang)` lists every fault found, each as "<rule>: «<excerpt>»". It is run
over the catalogs (tests/unit/test_text_faults.py) and over every message and PDF of
whole flows in both languages (tests/e2e/test_text_faults_flow.py).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from bot.grammar import Case, kk_case

Rule = Callable[[str], list[str]]

_WORD_BEFORE_DEYIN = re.compile(r"(\S+)\s+дейін")
_DATIVE_ENDINGS = ("ға", "ге", "қа", "ке", "на", "не", "а", "е")
_SUFFIXED_NUMBER = re.compile(
    r"(\d+(?::\d\d)?)-(ға|ге|қа|ке|да|де|та|те|дан|ден|тан|тен|нан|нен)\b"
)
_CASE_OF_ENDING = {
    **dict.fromkeys(("ға", "ге", "қа", "ке"), Case.DATIVE),
    **dict.fromkeys(("да", "де", "та", "те"), Case.LOCATIVE),
    **dict.fromkeys(("дан", "ден", "тан", "тен", "нан", "нен"), Case.ABLATIVE),
}
_WORD_BEFORE_REFUSED = re.compile(r"(\S+)\s+бас\s+тартты")
_ABLATIVE_ENDINGS = ("дан", "ден", "тан", "тен", "нан", "нен")
_LATIN_WORD = re.compile(r"(?<![\w/.@-])[A-Za-z][A-Za-z_-]+(?![\w.@/])")
_ALLOWED_LATIN = {"Telegram", "ID", "PDF"}


def _found(pattern: str, flags: int = 0) -> Rule:
    compiled = re.compile(pattern, flags)
    return lambda text: [m.group(0) for m in compiled.finditer(text)]


def _no_dative_before_deyin(text: str) -> list[str]:
    """«18:30 дейін» needs the dative: «18:30-ға дейін»."""
    return [
        m.group(0)
        for m in _WORD_BEFORE_DEYIN.finditer(text)
        if not m.group(1).rstrip("»)").endswith(_DATIVE_ENDINGS)
    ]


def _suffix_out_of_harmony(text: str) -> list[str]:
    """«10-ден» where vowel harmony and the last sound give «10-нан»."""
    wrong = []
    for m in _SUFFIXED_NUMBER.finditer(text):
        expected = kk_case(m.group(1), _CASE_OF_ENDING[m.group(2)])
        if expected != m.group(0):
            wrong.append(f"{m.group(0)} (should be {expected})")
    return wrong


def _refused_without_object(text: str) -> list[str]:
    """«бас тартты» needs what was refused, in the ablative («…көрсетуден бас тартты»)."""
    return [
        m.group(0)
        for m in _WORD_BEFORE_REFUSED.finditer(text)
        if not m.group(1).endswith(_ABLATIVE_ENDINGS)
    ]


def _latin_words(text: str) -> list[str]:
    """Technical words (webhook, sha256, codes) have no place in an official text."""
    without_names = re.sub(r"\b[\w.-]+\.kz\b|/[a-z_]+", " ", text)
    return [
        m.group(0) for m in _LATIN_WORD.finditer(without_names) if m.group(0) not in _ALLOWED_LATIN
    ]


COMMON_RULES: dict[str, Rule] = {
    "time-zone id": _found(r"\b(Asia|Europe)/\w+|\bUTC\b"),
    "hash": _found(r"SHA-?256|\b[0-9a-f]{16,}\b", re.IGNORECASE),
    "command line": _found(r"homeschool-bot|schools (invite|key|import)"),
    "consent version": _found(r"\b\d{4}-\d{2}\.\d+\b|\bv\d+\.\d+\b"),
    "internal code": _found(
        r"\b(telegram|api):\S+|\b[a-z]+_[a-z_]+\b|\b[a-z]+\.[a-z_]+\.[a-z_]+\b"
    ),
    "unfilled placeholder": _found(r"\{[\w:]*\}|\bNone\b|%\(?\w*\)?s\b"),
    "technical word": _latin_words,
}

KK_RULES: dict[str, Rule] = {
    "doubled noun": _found(r"өтініш бойынша өтініш|мектеп\w*»?\s+мектеб\w*"),
    "no dative before дейін": _no_dative_before_deyin,
    "vowel harmony": _suffix_out_of_harmony,
    "сіздің баланың (балаңыздың)": _found(r"сіздің баланың"),
    "Біз тарапта": _found(r"Біз тарапта"),
    "болдырылмады reads as a negation": _found(r"болдырылмады"),
    "бас тартты without its object": _refused_without_object,
    "кері қайтарды (кері қайтарып алды)": _found(r"кері қайтарды"),
    "ground 1: дұрыс еместігі": _found(r"анық еместіг"),
}

_NOMINATIVE_PATRONYMIC = r"[А-ЯЁӘҒҚҢӨҰҮҺІ]\w+ [А-ЯЁӘҒҚҢӨҰҮҺІ]\w+ [А-ЯЁӘҒҚҢӨҰҮҺІ]\w+(вич|вна)\b"

RU_RULES: dict[str, Rule] = {
    "gender in brackets": _found(r"\w\((а|ая|на|ла|ый|ой)\)"),
    "undeclined name": _found(
        r"\b(ребёнку|ребенку|сына|дочь|дочери|от|для) " + _NOMINATIVE_PATRONYMIC
    ),
    "nominative after руководителю": _found(
        r"[Рр]уководителю (Управление|Отдел|Аппарат|Министерство)\b"
    ),
    "nominative after классе": _found(r"классе [А-ЯЁ]\w+(ая|ое|ый|ий)\b"),
    "doubled noun": _found(r"[Шш]кола «[^»]*[Шш]кол"),
    "не дали согласие (согласия)": _found(r"не дали? согласие"),
    "обучение twice": _found(r"обучени\w+ [^.]{0,80}на индивидуальное бесплатное обучение"),
    "ВКК «…» (the commission is at the organisation)": _found(r"ВКК\)? «"),
    "Документы принял (passive: приняты)": _found(r"Документы принял\b"),
}


def faults(text: str, lang: str) -> list[str]:
    """Every fault of `text` in `lang` ("kk" or "ru"), as "<rule>: «<excerpt>»"."""
    rules = {**COMMON_RULES, **(KK_RULES if lang == "kk" else RU_RULES)}
    text = re.sub(r"https?://\S+", " ", html.unescape(re.sub(r"<[^>]+>", "", text)))
    return [f"{name}: «{hit}»" for name, rule in rules.items() for hit in rule(text)]
