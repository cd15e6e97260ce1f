"""The receipt of acceptance of documents (result of the service, free form) as a PDF."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.documents.common import conclusion_reference
from bot.documents.text import Lang, format_datetime, or_blank

SERVICE_TERM_WORKING_DAYS = 2
"""Term of the service, annex 1 item 3 of order No. 223."""


@dataclass(frozen=True)
class ReceiptData:
    """What the school registered when it accepted the documents of a case."""

    case_number: str
    language: Lang
    school_name: str
    registration_number: str
    registered_at: datetime
    accepted_at: datetime
    accepted_by_staff: str | None
    """The staff member's name as Telegram gives it; None when the school's system decided."""
    guardian_full_name: str
    child_full_name: str
    conclusion_number: str
    conclusion_date: date
    conclusion_organization: str
    issued_at: datetime


@dataclass(frozen=True)
class ReceiptTexts:
    """Wording of the receipt in one language; `{...}` fields are filled by render_receipt."""

    title: str
    service: str
    provider: str
    registration_number: str
    registered_at: str
    case_number: str
    guardian: str
    child: str
    documents: str
    application_item: str
    conclusion_item: str
    term: str
    term_value: str
    accepted: str
    by_staff: str
    by_system: str


TEXTS: dict[Lang, ReceiptTexts] = {
    "kk": ReceiptTexts(
        title="Құжаттарды қабылдау туралы қолхат",
        service=(
            "«Бастауыш, негізгі орта, жалпы орта білім беру ұйымдарына денсаулығына "
            "байланысты ұзақ уақыт бойы бара алмайтын балаларды үйде жеке тегін оқытуды "
            "ұйымдастыру үшін құжаттар қабылдау» мемлекеттік көрсетілетін қызметі"
        ),
        provider="Көрсетілетін қызметті беруші (білім беру ұйымы)",
        registration_number="Тіркеу нөмірі",
        registered_at="Тіркелген күні мен уақыты",
        case_number="Іс нөмірі",
        guardian="Көрсетілетін қызметті алушы (заңды өкіл)",
        child="Бала",
        documents="Қабылданған құжаттар",
        application_item="1) өтініш (еркін нысанда);",
        conclusion_item="2) {conclusion}, денсаулық сақтаудың ақпараттық жүйесінен алынған.",
        term="Мемлекеттік қызмет көрсету мерзімі",
        term_value="{days} жұмыс күні",
        accepted="Құжаттар қабылданды",
        by_staff="{at}, білім беру ұйымының қызметкері {name} (Telegram арқылы)",
        by_system="{at}, білім беру ұйымының ақпараттық жүйесі арқылы: {school}",
    ),
    "ru": ReceiptTexts(
        title="Расписка о приёме документов",
        service=(
            "государственная услуга «Прием документов для организации индивидуального "
            "бесплатного обучения на дому детей, которые по состоянию здоровья в течение "
            "длительного времени не могут посещать организации начального, основного "
            "среднего, общего среднего образования»"
        ),
        provider="Услугодатель (организация образования)",
        registration_number="Регистрационный номер",
        registered_at="Дата и время регистрации",
        case_number="Номер дела",
        guardian="Услугополучатель (законный представитель)",
        child="Ребёнок",
        documents="Принятые документы",
        application_item="1) заявление (в произвольной форме);",
        conclusion_item="2) {conclusion}, получено из информационной системы здравоохранения.",
        term="Срок оказания государственной услуги",
        term_value="{days} рабочих дня",
        accepted="Документы приняты",
        by_staff="{at}, сотрудник организации образования {name} (через Telegram)",
        by_system="{at}, через информационную систему организации образования: {school}",
    ),
}


def _accepted_by(data: ReceiptData, texts: ReceiptTexts, school: str) -> str:
    """When, and by whom: the staff member by name, or the school's own system."""
    at = format_datetime(data.accepted_at, data.language)
    if data.accepted_by_staff and data.accepted_by_staff.strip():
        return texts.by_staff.format(at=at, name=data.accepted_by_staff.strip())
    return texts.by_system.format(at=at, school=school)


def render_receipt(data: ReceiptData) -> bytes:
    """Render the school's receipt of acceptance of documents as PDF bytes."""
    from bot.documents.layout import OfficialPdf  # Typst on first use: see bot.documents

    texts = TEXTS[data.language]
    pdf = OfficialPdf(
        language=data.language,
        title=f"{texts.title} {data.case_number}",
        case_number=data.case_number,
        generated_at=data.issued_at,
    )
    pdf.heading(texts.title, texts.service)
    conclusion = conclusion_reference(
        data.language, data.conclusion_number, data.conclusion_date, data.conclusion_organization
    )
    school = or_blank(data.school_name)
    pdf.fields(
        [
            (texts.provider, school),
            (texts.registration_number, or_blank(data.registration_number)),
            (texts.registered_at, format_datetime(data.registered_at, data.language)),
            (texts.case_number, or_blank(data.case_number)),
            (texts.guardian, or_blank(data.guardian_full_name)),
            (texts.child, or_blank(data.child_full_name)),
            (texts.documents, texts.application_item),
            ("", texts.conclusion_item.format(conclusion=conclusion)),
            (texts.term, texts.term_value.format(days=SERVICE_TERM_WORKING_DAYS)),
            (texts.accepted, _accepted_by(data, texts, school)),
        ]
    )
    return pdf.render()
