"""Wording both documents share: the consent term and the reference to a VKK conclusion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.documents.text import Lang, format_date, or_blank


@dataclass(frozen=True)
class CommonTexts:
    """Terms from GLOSSARY.md used by more than one document."""

    consent: str
    conclusion: str
    organization: str


COMMON: dict[Lang, CommonTexts] = {
    "kk": CommonTexts(
        consent="Дербес деректерді жинауға және өңдеуге келісім",
        conclusion="{date}\u00a0жылғы №\u00a0{number} ДКК қорытындысы",
        organization="медициналық ұйым",
    ),
    "ru": CommonTexts(
        consent="Согласие на сбор и обработку персональных данных",
        conclusion="заключение ВКК №\u00a0{number} от\u00a0{date}",
        organization="медицинская организация",
    ),
}


def conclusion_reference(language: Lang, number: str, issued_on: date, organization: str) -> str:
    """Name a VKK conclusion by number, date and the medical organisation the commission is
    part of (left out when empty), labelled: the name keeps its nominative."""
    texts = COMMON[language]
    reference = texts.conclusion.format(number=or_blank(number), date=format_date(issued_on))
    if organization.strip():
        reference += f" ({texts.organization}: {organization})"
    return reference
