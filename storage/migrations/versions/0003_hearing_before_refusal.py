"""The hearing before a refusal (APPK art. 73): status `hearing`, the position, the document.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_STATUSES = (
    "'received', 'awaiting_link', 'notified', 'consented', 'declined', "
    "'submitted', 'forwarded', 'overdue', {hearing}'accepted', 'refused', 'expired', "
    "'cancelled'"
)
_HEARING_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("hearing_ground", sa.SmallInteger()),
    ("hearing_reason_enc", sa.LargeBinary()),
    ("hearing_started_at", sa.DateTime(timezone=True)),
    ("hearing_until", sa.DateTime(timezone=True)),
    ("hearing_position_enc", sa.LargeBinary()),
    ("hearing_answered_at", sa.DateTime(timezone=True)),
    ("hearing_closed_at", sa.DateTime(timezone=True)),
    ("hearing_reminded_at", sa.DateTime(timezone=True)),
)


def _status_check(with_hearing: bool) -> str:
    return "status IN (" + _STATUSES.format(hearing="'hearing', " if with_hearing else "") + ")"


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name, type_ in _HEARING_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_cases_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_cases_status"), _status_check(True))
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_documents_kind"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_documents_kind"), "kind IN ('application', 'receipt', 'refusal')"
        )


def downgrade() -> None:
    # The older schema knows neither the hearing nor the refusal document: a case heard
    # goes back to the school undecided, and the refusal documents are dropped.
    op.execute("UPDATE cases SET status = 'forwarded' WHERE status = 'hearing'")
    op.execute("DELETE FROM documents WHERE kind = 'refusal'")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_documents_kind"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_documents_kind"), "kind IN ('application', 'receipt')"
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_cases_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_cases_status"), _status_check(False))
        for name, _ in reversed(_HEARING_COLUMNS):
            batch_op.drop_column(name)
