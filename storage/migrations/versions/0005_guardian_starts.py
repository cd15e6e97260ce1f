"""The guardian's conversation leaves aiogram's FSM: chats not linked yet get a row.

Where a guardian is in the form was kept twice, in the FSM and in the draft
(`applications.fields_enc`, its `asked`); the draft is now the only record. The FSM
rows of private chats are deleted: their form steps are in the drafts, and what they
held before the phone was shared (language, deep link) is what `guardian_starts`
holds now. Staff chats (negative chat ids) keep their FSM rows: the refusal reason
prompt still lives there.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guardian_starts",
        sa.Column("telegram_user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("asked", sa.String(length=16), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "asked IN ('language', 'contact')", name=op.f("ck_guardian_starts_asked")
        ),
        sa.PrimaryKeyConstraint("telegram_user_id", name=op.f("pk_guardian_starts")),
    )
    # Keys are fsm:<bot id>:<chat id>:<user id>:<destiny>; a group's chat id is negative.
    op.execute(sa.text("DELETE FROM fsm_states WHERE key NOT LIKE 'fsm:%:-%'"))


def downgrade() -> None:
    op.drop_table("guardian_starts")
