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


COMMON: dict[Lang, CommonTexts] = {
    "kk": CommonTexts(
        consent="Дербес деректерді жинауға және өңдеуге келісім",
        conclusion="{date}\u00a0жылғы №\u00a0{number} ДКК қорытындысы",
    ),
    "ru": CommonTexts(
        consent="Согласие на сбор и обработку персональных данных",
        conclusion="заключение ВКК №\u00a0{number} от\u00a0{date}",
    ),
}


def conclusion_reference(language: Lang, number: str, issued_on: date, organization: str) -> str:
    """Name a VKK conclusion by number, date and issuing organisation (left out when empty)."""
    texts = COMMON[language]
    reference = texts.conclusion.format(number=or_blank(number), date=format_date(issued_on))
    if organization.strip():
        reference += f" ({organization})"
    return reference
