"""The application of annex 2 to order No. 223, filled from a case, as a PDF."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from bot.documents.common import COMMON, conclusion_reference
from bot.documents.text import (
    BLANK,
    Lang,
    format_date,
    format_datetime,
    join_present,
    or_blank,
)
from bot.grammar import Case, kk_case, official_name, ru_name


@dataclass(frozen=True)
class ApplicationData:
    """Everything the application states; address parts may be empty and are then left out."""

    case_number: str
    language: Lang
    authority_name: str
    guardian_full_name: str
    child_full_name: str
    child_sex: Literal["m", "f"]
    child_birth_date: date
    locality: str
    district: str
    city: str
    region: str
    grade: int
    school_name: str
    conclusion_number: str
    conclusion_date: date
    conclusion_organization: str
    note: str
    consent_at: datetime
    created_at: datetime
    telegram_user_id: int | None
    """The guardian's Telegram account that confirmed the application (its e-signature);
    None when it was confirmed on the web, signed in by the code sent to the phone the
    health system gave."""
    guardian_sex: Literal["m", "f"] | None = None


@dataclass(frozen=True)
class ApplicationTexts:
    """Wording of annex 2 in one language; `{...}` fields are filled by render_application."""

    addressee_caption: str
    applicant: str
    applicant_caption: str
    title: str
    child: dict[Literal["m", "f"], str]
    request: str
    address: dict[Literal["m", "f"], str]
    basis: str
    note: str
    consent: str
    date: str
    signer: str
    signature: str
    confirmed: str
    confirmed_web: str


# Kazakh: the wording of annex 2 as published (seed file), with the case endings a filled-in
# sentence needs; "балам/қызым" is the order's own pair for son/daughter.
# Russian: the same form in the terms of GLOSSARY.md, names declined (bot.grammar).
TEXTS: dict[Lang, ApplicationTexts] = {
    "kk": ApplicationTexts(
        addressee_caption="(жергілікті атқарушы органның атауы)",
        applicant="{guardian}",
        applicant_caption="(Т.А.Ә. (болған жағдайда))",
        title="Өтініш",
        child={"m": "менің балам", "f": "менің қызым"},
        request=(
            "{school} {grade}-сыныбында оқу үшін {address}{child} {child_name} "
            "(туған күні: {birth_date}) үйде жеке тегін оқытуға қабылдауыңызды сұраймын."
        ),
        address={
            "m": "{address} мекенжайында тұратын ",
            "f": "{address} мекенжайында тұратын ",
        },
        basis="Негіздеме: үйде оқыту бойынша ұсынымдармен қоса берілген {conclusion}.",
        note="Ескертпе: {note}",
        consent="{consent} {consent_at} берілді.",
        date="Күні: {date}",
        signer="Өтініш беруші: {guardian}",
        signature="Қолы: ____________",
        confirmed="Электрондық түрде расталды: Telegram аккаунты (ID {account}), {confirmed_at}",
        confirmed_web=(
            "Электрондық түрде расталды: денсаулық сақтау жүйесі берген телефон нөміріне "
            "жіберілген бір реттік SMS-кодпен, {confirmed_at}"
        ),
    ),
    "ru": ApplicationTexts(
        addressee_caption="(наименование местного исполнительного органа)",
        applicant="от {guardian}",
        applicant_caption="(Ф.И.О. (при его наличии))",
        title="Заявление",
        child={"m": "моего сына", "f": "мою дочь"},
        request=(
            "Прошу принять {child} {child_name} (дата рождения: {birth_date}){address} "
            "на индивидуальное бесплатное обучение на дому в {grade} классе {school}."
        ),
        address={
            "m": ", проживающего по адресу: {address},",
            "f": ", проживающую по адресу: {address},",
        },
        basis="Основание: {conclusion} с рекомендациями по обучению на дому.",
        note="Примечание: {note}",
        consent="{consent} дано {consent_at}.",
        date="Дата: {date}",
        signer="Заявитель: {guardian}",
        signature="Подпись: ____________",
        confirmed="Подтверждено электронно: аккаунт Telegram (ID {account}), {confirmed_at}",
        confirmed_web=(
            "Подтверждено электронно: одноразовым SMS-кодом, отправленным на номер телефона, "
            "указанный системой здравоохранения, {confirmed_at}"
        ),
    ),
}

SCHOOL_GENERIC_RU = "организации образования"
AUTHORITY_GENERIC_RU = "местного исполнительного органа"


def addressee(language: Lang, authority: str) -> str:
    """«To the head of <authority>», the first line of annex 2, with the case it needs."""
    if not authority.strip():
        return f"{BLANK} басшысына" if language == "kk" else f"руководителю {BLANK}"
    if language == "kk":
        return f"{kk_case(authority, Case.GENITIVE)} басшысына"
    return f"руководителю {official_name(authority, AUTHORITY_GENERIC_RU)}"


def _school(language: Lang, name: str) -> str:
    if not name.strip():
        return BLANK
    if language == "kk":
        return kk_case(name, Case.GENITIVE)
    return official_name(name, SCHOOL_GENERIC_RU)


def _child_name(language: Lang, name: str, sex: Literal["m", "f"]) -> str:
    if not name.strip():
        return BLANK
    if language == "kk":
        return kk_case(name, Case.ACCUSATIVE)
    return ru_name(name, Case.ACCUSATIVE, sex)


def _request(data: ApplicationData, texts: ApplicationTexts) -> str:
    address = join_present((data.locality, data.district, data.city, data.region))
    address_clause = texts.address[data.child_sex].format(address=address) if address else ""
    return texts.request.format(
        school=_school(data.language, data.school_name),
        grade=data.grade,
        address=address_clause,
        child=texts.child[data.child_sex],
        child_name=_child_name(data.language, data.child_full_name, data.child_sex),
        birth_date=format_date(data.child_birth_date),
    )


def render_application(data: ApplicationData) -> bytes:
    """Render the guardian's application (annex 2 of order No. 223) as PDF bytes."""
    from bot.documents.layout import OfficialPdf  # Typst on first use: see bot.documents

    texts = TEXTS[data.language]
    common = COMMON[data.language]
    lang = data.language
    pdf = OfficialPdf(
        language=lang,
        title=f"{texts.title} {data.case_number}",
        case_number=data.case_number,
        generated_at=data.created_at,
    )
    guardian = or_blank(data.guardian_full_name)
    applicant = guardian
    if lang == "ru" and data.guardian_full_name.strip():
        applicant = ru_name(guardian, Case.GENITIVE, data.guardian_sex)
    to = addressee(lang, data.authority_name)
    pdf.addressee(
        [
            (to[:1].upper() + to[1:], texts.addressee_caption),
            (texts.applicant.format(guardian=applicant), texts.applicant_caption),
        ]
    )
    pdf.heading(texts.title)
    pdf.paragraph(_request(data, texts))
    conclusion = conclusion_reference(
        lang, data.conclusion_number, data.conclusion_date, data.conclusion_organization
    )
    pdf.paragraph(texts.basis.format(conclusion=conclusion))
    if pdf.clean(data.note):  # a note of only control characters counts as none
        pdf.paragraph(texts.note.format(note=data.note), multiline=True)
    pdf.paragraph(
        texts.consent.format(
            consent=common.consent, consent_at=format_datetime(data.consent_at, lang)
        )
    )
    pdf.closing(
        texts.date.format(date=format_date(data.created_at)),
        texts.signer.format(guardian=guardian),
    )
    confirmed_at = format_datetime(data.created_at, lang)
    if data.telegram_user_id is None:
        confirmed = texts.confirmed_web.format(confirmed_at=confirmed_at)
    else:
        confirmed = texts.confirmed.format(account=data.telegram_user_id, confirmed_at=confirmed_at)
    pdf.signature(texts.signature, confirmed)
    return pdf.render()
