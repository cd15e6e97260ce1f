"""Consent texts stored whole, and consent withdrawal as a recorded choice.

`consent_texts` keeps the exact wording each guardian was shown (one row per distinct
text, keyed by its SHA-256). The two texts of version 2026-11.1, the only one before
this revision, are written here verbatim, so records made under it point at their text
too. `consent_records.choice` may now also be `withdraw`.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

VERSION_2026_11_1 = {
    "kk": (
        "<b>Дербес деректерді жинауға және өңдеуге келісім</b>\n"
        "Мен, баланың заңды өкілі, дербес деректерді, оның ішінде дәрігерлік құпияны құрайтын "
        "мәліметтерді (ДКК қорытындысы) жинауға және өңдеуге, сондай-ақ оларды «Үйде жеке "
        "тегін оқытуды ұйымдастыру үшін құжаттар қабылдау» мемлекеттік көрсетілетін қызметін "
        "көрсету үшін білім беру ұйымына беруге келісім беремін. Келісім қызмет көрсету "
        "аяқталғанға дейін жарамды."
    ),
    "ru": (
        "<b>Согласие на сбор и обработку персональных данных</b>\n"
        "Я, законный представитель ребёнка, даю согласие на сбор и обработку персональных "
        "данных, в том числе сведений, составляющих врачебную тайну (заключение ВКК), и их "
        "передачу в организацию образования для оказания государственной услуги «Приём "
        "документов для организации индивидуального бесплатного обучения на дому». Согласие "
        "действует до завершения оказания услуги."
    ),
}


def upgrade() -> None:
    texts = op.create_table(
        "consent_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_texts")),
        sa.UniqueConstraint("sha256", name=op.f("uq_consent_texts_sha256")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        texts,
        [
            {
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "version": "2026-11.1",
                "language": language,
                "text": text,
                "created_at": now,
            }
            for language, text in VERSION_2026_11_1.items()
        ],
    )
    _choices("'agree', 'decline', 'withdraw'")


def downgrade() -> None:
    op.execute("DELETE FROM consent_records WHERE choice = 'withdraw'")
    _choices("'agree', 'decline'")
    op.drop_table("consent_texts")


def _choices(allowed: str) -> None:
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_consent_records_choice"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_consent_records_choice"), f"choice IN ({allowed})"
        )
