"""Grammar the texts need: Kazakh case suffixes, Russian personal names, sex from the IIN.

Kazakh case endings follow vowel harmony and the last sound of the word, so a value
put into a sentence («18:30-ға дейін», «10-нан», «мектепке») needs its ending chosen
from how it is read: a number or a time by the last number word said aloud. Russian
names in governed cases («ребёнку Сейткали Алихану Нурлановичу») are declined by
pytrovich (the petrovich rules) with the sex taken from the IIN; Kazakh patronymics
(«-ұлы», «-қызы») stay as they are, as in official Russian.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING

from bot.domain.identifiers import Sex, sex_from_iin

if TYPE_CHECKING:
    from pytrovich.maker import PetrovichDeclinationMaker


class Case(StrEnum):
    """Grammatical cases the catalogs ask for, as `{name:case}` in a template."""

    GENITIVE = "gen"
    DATIVE = "dat"
    ACCUSATIVE = "acc"
    LOCATIVE = "loc"
    ABLATIVE = "abl"


_MALE_PATRONYMIC = re.compile(r"(вич|ұлы|улы|оглы|уулу)$", re.IGNORECASE)
_FEMALE_PATRONYMIC = re.compile(r"(вна|чна|қызы|кызы|гызы)$", re.IGNORECASE)


def person_sex(iin: str | None, full_name: str) -> Sex | None:
    """Sex from the IIN when there is one, else from the patronymic, else unknown."""
    by_iin = sex_from_iin(iin)
    if by_iin is not None:
        return by_iin
    parts = full_name.split()
    if len(parts) >= 3:
        if _MALE_PATRONYMIC.search(parts[-1]):
            return "m"
        if _FEMALE_PATRONYMIC.search(parts[-1]):
            return "f"
    return None


def given_names(full_name: str) -> str:
    """Name and patronymic of "Surname Name Patronymic", the polite form of address."""
    parts = full_name.split()
    return " ".join(parts[1:]) if len(parts) == 3 else full_name.strip()


# --- Kazakh ---------------------------------------------------------------------------

_BACK = set("аоұыяё")
_FRONT = set("әөүіеэ")
_VOWELS = _BACK | _FRONT | {"ю"}
_NASAL = set("мнң")
_SONORANT = set("лрйузжи")  # final «у» and «и» sound as [w] and [j]: «суға», «Әлидің»
_UNITS = ["", "бір", "екі", "үш", "төрт", "бес", "алты", "жеті", "сегіз", "тоғыз"]
_TENS = ["", "он", "жиырма", "отыз", "қырық", "елу", "алпыс", "жетпіс", "сексен", "тоқсан"]
_NUMBER_AT_END = re.compile(r"(\d+)\D*$")

# (after a vowel, after л р й у з ж, after м н ң, after a voiceless consonant): back form;
# the front form swaps а->е, ы->і, ғ->г, қ->к.
_ENDINGS: dict[Case, tuple[str, str, str, str]] = {
    Case.DATIVE: ("ға", "ға", "ға", "қа"),
    Case.LOCATIVE: ("да", "да", "да", "та"),
    Case.ABLATIVE: ("дан", "дан", "нан", "тан"),
    Case.GENITIVE: ("ның", "дың", "ның", "тың"),
    Case.ACCUSATIVE: ("ны", "ды", "ды", "ты"),
}
_TO_FRONT = str.maketrans("аығқ", "еігк")
_POSSESSIVE_ENDINGS = {
    Case.GENITIVE: "ның",
    Case.DATIVE: "на",
    Case.ACCUSATIVE: "н",
    Case.LOCATIVE: "нда",
    Case.ABLATIVE: "нан",
}
_KAZAKH_PATRONYMIC = re.compile(r"(ұлы|улы|қызы|кызы)$", re.IGNORECASE)


def kk_number_word(number: int) -> str:
    """The number word a Kazakh reader says last for `number` (30 -> «отыз», 15 -> «бес»)."""
    if number == 0:
        return "нөл"
    if number % 10:
        return _UNITS[number % 10]
    if number % 100:
        return _TENS[number % 100 // 10]
    if number % 1000:
        return "жүз"
    if number % 1_000_000:
        return "мың"
    return "миллион" if number % 1_000_000_000 else "миллиард"


# How the letters of an abbreviation are read: «ДКК» ends in «ка», «ЖСН» in «эн».
_LETTERS_READ = (
    "А:а Ә:ә Б:бе В:ве Г:ге Ғ:ғе Д:де Е:е Ж:же З:зе И:и Й:й К:ка Қ:қа Л:эл М:эм Н:эн Ң:ың "
    "О:о Ө:ө П:пе Р:эр С:эс Т:те У:у Ұ:ұ Ү:ү Ф:эф Х:ха Һ:һа Ц:це Ч:че Ш:ша Щ:ща Ы:ы І:і "
    "Э:э Ю:ю Я:я"
)
_LETTER_NAMES = dict(pair.split(":") for pair in _LETTERS_READ.split())
_ABBREVIATION = re.compile(r"([А-ЯӘҒҚҢӨҰҮҺІЁ]{2,})[»\"]?$")


def _spoken_tail(text: str) -> tuple[str, bool]:
    """The word whose last sounds choose the ending, and whether a hyphen joins it.

    A number or a time is read by its last number word («18:30»: «отыз»), an
    abbreviation by the name of its last letter («ДКК»: «ка»).
    """
    match = _NUMBER_AT_END.search(text)
    if match and not re.search(r"[^\W\d_]", text[match.end(1) :]):
        return kk_number_word(int(match.group(1))), True
    abbreviation = _ABBREVIATION.search(text)
    if abbreviation:
        return _LETTER_NAMES[abbreviation.group(1)[-1]], True
    return text, text.endswith(("»", '"'))


def _is_front(word: str) -> bool:
    """The last vowel that is plainly back or front decides; «и», «у» alone lean front."""
    lowered = word.lower()
    for index in range(len(lowered) - 1, -1, -1):
        char = lowered[index]
        if char in _BACK:
            return False
        if char in _FRONT or (char == "и" and index < len(lowered) - 1):
            return True  # «Иванович»: a loanword's «и» before a consonant reads front
    return "и" in lowered or "ю" in lowered


def kk_case(text: str, case: Case | str) -> str:
    """`text` with the Kazakh ending of `case`; a number or time takes it after a hyphen.

    «18:30» dative -> «18:30-ға», «10» ablative -> «10-нан», «5» -> «5-тен», «мектеп» dative
    -> «мектепке», «Нұрланұлы» dative -> «Нұрланұлына». Other possessive forms (which take
    «-на», «-ны» and the like) are not recognised: templates word such values themselves.
    """
    value = text.rstrip()
    if not value:
        return text
    possessive = _KAZAKH_PATRONYMIC.search(value)
    if possessive:  # «Нұрланұлы» is «Нұрлан» + «ұлы» (his son): possessive endings
        return value + _POSSESSIVE_ENDINGS[Case(case)]
    spoken, hyphen = _spoken_tail(value)
    letters = [c for c in spoken.lower() if c.isalpha()]
    if not letters:
        return value
    last = letters[-1]
    if last in _VOWELS:
        column = 0
    elif last in _NASAL:
        column = 2
    elif last in _SONORANT:
        column = 1
    else:
        column = 3
    ending = _ENDINGS[Case(case)][column]
    if _is_front(spoken):
        ending = ending.translate(_TO_FRONT)
    return f"{value}{'-' if hyphen else ''}{ending}"


# --- Russian --------------------------------------------------------------------------


@cache
def _maker() -> PetrovichDeclinationMaker:
    from pytrovich.maker import PetrovichDeclinationMaker

    return PetrovichDeclinationMaker()


def ru_name(full_name: str, case: Case | str, sex: Sex | None) -> str:
    """A "Surname Name [Patronymic]" in a Russian case; unchanged when it cannot be done.

    Without the sex, or with a name of another shape, the nominative is kept: a sentence
    that must name such a person puts the name in a labelled field instead.
    """
    from pytrovich.enums import Case as RuCase
    from pytrovich.enums import Gender, NamePart

    parts = full_name.split()
    if sex is None or not 2 <= len(parts) <= 3:
        return full_name
    wanted = {
        Case.GENITIVE: RuCase.GENITIVE,
        Case.DATIVE: RuCase.DATIVE,
        Case.ACCUSATIVE: RuCase.ACCUSATIVE,
    }.get(Case(case))
    if wanted is None:
        return full_name
    gender = Gender.MALE if sex == "m" else Gender.FEMALE
    roles = [NamePart.LASTNAME, NamePart.FIRSTNAME, NamePart.MIDDLENAME][: len(parts)]
    declined = []
    for part, role in zip(parts, roles, strict=True):
        if role is NamePart.MIDDLENAME and _KAZAKH_PATRONYMIC.search(part):
            declined.append(part)
            continue
        # Hyphenated parts («Нур-Султан», «Иванова-Петрова») decline piece by piece.
        pieces = [_maker().make(role, gender, wanted, piece) for piece in part.split("-")]
        declined.append("-".join(pieces))
    return " ".join(declined)


def official_name(name: str, generic: str) -> str:
    """A registry name as official Russian sets it: after its generic noun, in quotes.

    The generic noun carries the sentence's case («в 4 классе организации образования
    «Школа-лицей № 5»»); a name that already has its legal form and quotes
    («КГУ «Общеобразовательная школа № 12»») stands as it is.
    """
    stripped = name.strip()
    if "«" in stripped or '"' in stripped:
        return stripped
    return f"{generic} «{stripped}»"
