"""School search words: a guardian's typed words are looked up in an index, not in Python.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.repositories.schools import search_words

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WORD = sa.String(length=100).with_variant(sa.String(length=100, collation="C"), "postgresql")


def upgrade() -> None:
    words = op.create_table(
        "school_words",
        sa.Column("word", WORD, nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_school_words_school_id_schools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("word", "school_id", name=op.f("pk_school_words")),
    )
    with op.batch_alter_table("school_words", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_school_words_school_id"), ["school_id"], unique=False)
    schools = op.get_bind().execute(
        sa.text("SELECT id, bin, name_kk, name_ru, locality FROM schools")
    )
    rows = [
        {"word": word, "school_id": school_id}
        for school_id, *texts in schools
        for word in search_words(*texts)
    ]
    if rows:
        op.bulk_insert(words, rows)


def downgrade() -> None:
    with op.batch_alter_table("school_words", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_school_words_school_id"))
    op.drop_table("school_words")
