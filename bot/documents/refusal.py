"""The reasoned refusal (the final decision after the hearing, APPK arts. 73 and 91) as a PDF."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.documents.receipt import TEXTS as RECEIPT_TEXTS
from bot.documents.text import Lang, format_date, or_blank


@dataclass(frozen=True)
class RefusalData:
    """What the school decided and on what it was heard.

    `position` is the guardian's objection in their words; None with `answered` means
    they stated no objections, None without it that the window passed unanswered.
    Times are aware and already in the service's zone (Astana time).
    """

    case_number: str
    language: Lang
    school_name: str
    guardian_full_name: str
    child_full_name: str
    ground: int
    ground_text: str
    reason: str
    hearing_started_at: datetime
    hearing_until: datetime
    answered: bool
    position: str | None
    decided_at: datetime
    decided_by: str


@dataclass(frozen=True)
class RefusalTexts:
    """Wording of the refusal in one language (terms of GLOSSARY.md)."""

    title: str
    provider: str
    case_number: str
    guardian: str
    child: str
    decision: str
    ground: str
    ground_value: str
    reason: str
    hearing: str
    hearing_value: str
    position: str
    no_objections: str
    no_position: str
    decided_at: str
    decided_by: str
    appeal_title: str
    appeal: str
    time: str


TEXTS: dict[Lang, RefusalTexts] = {
    "kk": RefusalTexts(
        title="Мемлекеттік қызмет көрсетуден дәлелді бас тарту",
        provider="Көрсетілетін қызметті беруші (білім беру ұйымы)",
        case_number="Іс нөмірі",
        guardian="Көрсетілетін қызметті алушы (заңды өкіл)",
        child="Бала",
        decision=(
            "Көрсетілетін қызметті беруші тыңдау нәтижелері бойынша мемлекеттік қызмет "
            "көрсетуден бас тарту туралы түпкілікті шешім қабылдады."
        ),
        ground="Бас тарту негізі",
        ground_value="{ground} (Қағидаларға 1-қосымшаның 9-тармағының {number}) тармақшасы)",
        reason="Бас тарту себебі",
        hearing="Тыңдау (ӘРПК 73-бабы)",
        hearing_value=(
            "алдын ала шешім көрсетілетін қызметті алушыға {started} жіберілді; ұстаным "
            "білдірудің соңғы мерзімі: {until}"
        ),
        position="Көрсетілетін қызметті алушының ұстанымы",
        no_objections="Көрсетілетін қызметті алушы қарсылығы жоқ екенін білдірді.",
        no_position="Белгіленген мерзімде ұстаным білдірілмеді.",
        decided_at="Шешім қабылданған күні мен уақыты",
        decided_by="Шешім қабылдаған",
        appeal_title="Шағымдану тәртібі",
        appeal=(
            "Қазақстан Республикасы Әкімшілік рәсімдік-процестік кодексінің 91-бабына сәйкес "
            "бұл шешімге шағымды шешім қабылдаған көрсетілетін қызметті берушіге (білім беру "
            "ұйымына) немесе мемлекеттік қызметтер көрсету сапасын бағалау және бақылау "
            "жөніндегі уәкілетті органға беруге болады. Сотқа дейінгі тәртіппен "
            "шағымданғаннан кейін сотқа жүгінуге болады. Мемлекеттік қызмет көрсету мәселелері "
            "бойынша Бірыңғай байланыс орталығы: 1414, 8-800-080-7777."
        ),
        time="{date} {time} (Астана уақыты)",
    ),
    "ru": RefusalTexts(
        title="Мотивированный отказ в оказании государственной услуги",
        provider="Услугодатель (организация образования)",
        case_number="Номер дела",
        guardian="Услугополучатель (законный представитель)",
        child="Ребёнок",
        decision=(
            "По результатам заслушивания услугодатель принял окончательное решение об отказе "
            "в оказании государственной услуги."
        ),
        ground="Основание отказа",
        ground_value="{ground} (подпункт {number}) пункта 9 приложения 1 к Правилам)",
        reason="Причина отказа",
        hearing="Заслушивание (статья 73 АППК)",
        hearing_value=(
            "предварительное решение направлено услугополучателю {started}; срок "
            "представления позиции: до {until}"
        ),
        position="Позиция услугополучателя",
        no_objections="Услугополучатель сообщил об отсутствии возражений.",
        no_position="В установленный срок позиция не представлена.",
        decided_at="Дата и время решения",
        decided_by="Решение принял",
        appeal_title="Порядок обжалования",
        appeal=(
            "В соответствии со статьёй 91 Административного процедурно-процессуального кодекса "
            "Республики Казахстан жалоба на это решение подаётся услугодателю (в организацию "
            "образования), принявшему решение, или в уполномоченный орган по оценке и контролю "
            "за качеством оказания государственных услуг. После досудебного обжалования "
            "решение может быть обжаловано в суде. Единый контакт-центр по вопросам оказания "
            "государственных услуг: 1414, 8-800-080-7777."
        ),
        time="{date} {time} (время Астаны)",
    ),
}


def astana_time(language: Lang, moment: datetime) -> str:
    """A moment as the document prints it: date, time and the words "Astana time"."""
    return TEXTS[language].time.format(date=format_date(moment), time=moment.strftime("%H:%M"))


def render_refusal(data: RefusalData) -> bytes:
    """Render the reasoned refusal; the same bytes serve the guardian and the school's copy."""
    from bot.documents.layout import OfficialPdf  # Typst on first use: see bot.documents

    texts = TEXTS[data.language]
    pdf = OfficialPdf(
        language=data.language,
        title=f"{texts.title} {data.case_number}",
        case_number=data.case_number,
        generated_at=data.decided_at,
    )
    pdf.heading(texts.title, RECEIPT_TEXTS[data.language].service)
    if data.position is not None:
        position = data.position
    else:
        position = texts.no_objections if data.answered else texts.no_position
    pdf.fields(
        [
            (texts.provider, or_blank(data.school_name)),
            (texts.case_number, or_blank(data.case_number)),
            (texts.guardian, or_blank(data.guardian_full_name)),
            (texts.child, or_blank(data.child_full_name)),
        ]
    )
    pdf.paragraph(texts.decision)
    pdf.fields(
        [
            (texts.ground, texts.ground_value.format(ground=data.ground_text, number=data.ground)),
            (texts.reason, data.reason),
            (
                texts.hearing,
                texts.hearing_value.format(
                    started=astana_time(data.language, data.hearing_started_at),
                    until=astana_time(data.language, data.hearing_until),
                ),
            ),
            (texts.position, position),
            (texts.decided_at, astana_time(data.language, data.decided_at)),
            (texts.decided_by, or_blank(data.decided_by)),
        ]
    )
    pdf.heading(texts.appeal_title)
    pdf.paragraph(texts.appeal)
    return pdf.render()
