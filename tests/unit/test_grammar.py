"""Language rules: Kazakh case endings, Russian names in governed cases, sex from the IIN,
registry names after their generic noun, and the address in the order of annex 2."""

from __future__ import annotations

import pytest

from bot.documents.text import AddressParts, annex_address
from bot.domain.identifiers import sex_from_iin
from bot.grammar import (
    Case,
    given_names,
    kk_case,
    kk_number_word,
    official_name,
    person_sex,
    ru_name,
)
from bot.texts import Lang, Person, Texts


@pytest.mark.parametrize(
    ("iin", "sex"),
    [
        ("150314601232", "f"),  # the glossary's examples: 7th digit 6, 5, 5
        ("120901545672", "m"),
        ("180520500609", "m"),
        ("880601400017", "f"),  # 1900s, even
        ("880601300018", "m"),  # 1900s, odd
        ("150314001232", None),  # 0 is no century
        ("150314701232", None),  # nor is 7
        ("15031460123", None),
        ("1503146012ab", None),
        (None, None),
    ],
)
def test_sex_from_iin_reads_the_seventh_digit(iin: str | None, sex: str | None) -> None:
    assert sex_from_iin(iin) == sex


@pytest.mark.parametrize(
    ("iin", "name", "sex"),
    [
        (None, "Сейткали Айгуль Маратовна", "f"),
        (None, "Сейтқали Айгүл Маратқызы", "f"),
        (None, "Сейтқали Әлихан Нұрланұлы", "m"),
        (None, "Сейткали Алихан Нурланович", "m"),
        (None, "Сейткали Айгуль", None),
        ("120901545672", "Сейткали Айгуль Маратовна", "m"),  # the IIN decides
    ],
)
def test_person_sex_takes_the_iin_else_the_patronymic(
    iin: str | None, name: str, sex: str | None
) -> None:
    assert person_sex(iin, name) == sex


@pytest.mark.parametrize(
    ("value", "case", "expected"),
    [
        ("18:30", Case.DATIVE, "18:30-ға"),
        ("17:30", Case.DATIVE, "17:30-ға"),
        ("18:00", Case.DATIVE, "18:00-ге"),
        ("07.12.2026 17:30", Case.DATIVE, "07.12.2026 17:30-ға"),
        ("10", Case.ABLATIVE, "10-нан"),
        ("5", Case.ABLATIVE, "5-тен"),
        ("0", Case.ABLATIVE, "0-ден"),
        ("11", Case.DATIVE, "11-ге"),
        ("2", Case.DATIVE, "2-ге"),
        ("40", Case.DATIVE, "40-қа"),
        ("30", Case.ABLATIVE, "30-дан"),
        ("300", Case.DATIVE, "300-ге"),
        ("1000", Case.ABLATIVE, "1000-нан"),
        ("9", Case.LOCATIVE, "9-да"),
        ("6", Case.GENITIVE, "6-ның"),
        ("4", Case.LOCATIVE, "4-те"),
        ("мектеп", Case.DATIVE, "мектепке"),
        ("мектеп", Case.GENITIVE, "мектептің"),
        ("бала", Case.ACCUSATIVE, "баланы"),
        ("Алматы", Case.LOCATIVE, "Алматыда"),
        ("Астана", Case.GENITIVE, "Астананың"),
        ("Қазақстан", Case.GENITIVE, "Қазақстанның"),
        ("Абай", Case.GENITIVE, "Абайдың"),
        ("су", Case.DATIVE, "суға"),
        ("көл", Case.ABLATIVE, "көлден"),
        ("ДКК", Case.GENITIVE, "ДКК-ның"),
        ("ЖСН", Case.DATIVE, "ЖСН-ге"),
        (
            "Алматы облысының білім басқармасы",
            Case.GENITIVE,
            "Алматы облысының білім басқармасының",
        ),
        ("Сейтқали Әлихан Нұрланұлы", Case.DATIVE, "Сейтқали Әлихан Нұрланұлына"),
        ("Сейтқали Әлихан Нұрланұлы", Case.ACCUSATIVE, "Сейтқали Әлихан Нұрланұлын"),
        ("Сейтқали Айгүл Маратқызы", Case.GENITIVE, "Сейтқали Айгүл Маратқызының"),
    ],
)
def test_kk_case_follows_vowel_harmony_and_the_last_sound(
    value: str, case: Case, expected: str
) -> None:
    assert kk_case(value, case) == expected


@pytest.mark.parametrize(
    ("number", "word"), [(0, "нөл"), (15, "бес"), (30, "отыз"), (100, "жүз"), (2000, "мың")]
)
def test_kk_number_word_is_the_last_word_said(number: int, word: str) -> None:
    assert kk_number_word(number) == word


@pytest.mark.parametrize(
    ("name", "case", "sex", "expected"),
    [
        ("Сейткали Алихан Нурланович", Case.DATIVE, "m", "Сейткали Алихану Нурлановичу"),
        ("Сейткали Алихан Нурланович", Case.ACCUSATIVE, "m", "Сейткали Алихана Нурлановича"),
        ("Сейткали Айгуль Маратовна", Case.GENITIVE, "f", "Сейткали Айгуль Маратовны"),
        ("Сейткали Айгуль Маратовна", Case.DATIVE, "f", "Сейткали Айгуль Маратовне"),
        # Kazakh names in Russian text: the patronymic in «-ұлы», «-қызы» stays as it is
        ("Сейтқали Әлихан Нұрланұлы", Case.DATIVE, "m", "Сейтқали Әлихану Нұрланұлы"),
        ("Серікова Әйгерім Ғалымқызы", Case.GENITIVE, "f", "Серіковой Әйгерім Ғалымқызы"),
        ("Серіков Нұрлан Қайратұлы", Case.ACCUSATIVE, "m", "Серікова Нұрлана Қайратұлы"),
        ("Иванова-Петрова Анна Сергеевна", Case.GENITIVE, "f", "Ивановой-Петровой Анны Сергеевны"),
        ("Сейткали Алихан Нурланович", Case.DATIVE, None, "Сейткали Алихан Нурланович"),
        ("Ли Мария Ивановна Кан", Case.DATIVE, "f", "Ли Мария Ивановна Кан"),
    ],
)
def test_ru_name_declines_or_keeps_the_nominative(
    name: str, case: Case, sex: str | None, expected: str
) -> None:
    assert ru_name(name, case, sex) == expected  # type: ignore[arg-type]


def test_given_names_drop_the_surname_of_a_full_name() -> None:
    assert given_names("Сейткали Айгуль Маратовна") == "Айгуль Маратовна"
    assert given_names("Сейткали Айгуль") == "Сейткали Айгуль"


def test_official_name_stands_after_its_generic_noun_unless_it_has_its_form() -> None:
    generic = "организации образования"
    assert (
        official_name("Общеобразовательная школа № 12", generic)
        == "организации образования «Общеобразовательная школа № 12»"
    )
    assert (
        official_name("КГУ «Общеобразовательная школа № 12»", generic)
        == "КГУ «Общеобразовательная школа № 12»"
    )


def test_catalog_placeholder_takes_the_case_its_template_names() -> None:
    texts = Texts()
    kk = texts(Lang.KK, "status.deadline", deadline="07.12.2026 17:30")
    ru = texts(Lang.RU, "status.deadline", deadline="07.12.2026 17:30")
    hostile = texts(Lang.RU, "notice.body", **_notice(Person("<b>Ким</b> Ли Иванович", "m")))

    assert kk == "Мектептің жауап беру мерзімі: 07.12.2026 17:30-ға дейін"
    assert ru == "Срок ответа школы: до 07.12.2026 17:30"
    assert "&lt;b&gt;Ким&lt;/b&gt; Ли Ивановичу" in hostile


def test_catalog_declines_a_russian_name_only_with_its_sex() -> None:
    texts = Texts()
    boy = texts(Lang.RU, "notice.body", **_notice(Person("Сейткали Алихан Нурланович", "m")))
    unknown = texts(Lang.RU, "notice.body", **_notice(Person("Сейткали Алихан Нурланович", None)))

    assert "ребёнку <b>Сейткали Алихану Нурлановичу</b>" in boy
    assert "ребёнку <b>Сейткали Алихан Нурланович</b>" in unknown


def _notice(child: Person) -> dict[str, object]:
    return {
        "greeting": "",
        "child_name": child,
        "number": "1234",
        "date": "03.12.2026",
        "organization": "Карасайская районная центральная больница",
        "school": "Общеобразовательная школа № 12",
        "case_number": "A0A4BC76",
    }


@pytest.mark.parametrize(
    ("answer", "parts"),
    [
        (
            "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10",
            AddressParts("Абай к-сі, 10", "Қарасай ауданы", "Қаскелең қ.", "Алматы облысы"),
        ),
        (
            "Алматинская область, Карасайский район, г. Каскелен, ул. Абая, 10",
            AddressParts("ул. Абая, 10", "Карасайский район", "г. Каскелен", "Алматинская область"),
        ),
        (
            "Ақмола облысы, Целиноград ауданы, Қосшы ауылы, Бірлік к-сі, 5",
            AddressParts("Қосшы ауылы, Бірлік к-сі, 5", "Целиноград ауданы", "", "Ақмола облысы"),
        ),
        ("Астана, ул. Абая, 1", AddressParts("Астана, ул. Абая, 1", "", "", "")),
        (
            "Алматы облысы, Алматинская область, дом 1",
            AddressParts("Алматы облысы, Алматинская область, дом 1", "", "", ""),
        ),
    ],
)
def test_annex_address_reorders_named_parts_and_keeps_the_rest(
    answer: str, parts: AddressParts
) -> None:
    assert annex_address(answer) == parts
