"""The migrations form one numbered line: `NNNN_<slug>.py`, revision `NNNN`, each on the last.

Two branches that each add "the next" migration used to both name theirs 0005; Alembic
then sees two heads and `run` refuses to start. These checks fail on the branch that
merges second. They also hold `storage.migrate.head_revision` (the start-up's check
without Alembic) equal to the head Alembic computes.
"""

from __future__ import annotations

import re
from collections import Counter

from alembic.script import ScriptDirectory

from storage.migrate import VERSIONS_DIR, alembic_config, head_revision

FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.py$")


def migration_files() -> list[str]:
    return sorted(path.name for path in VERSIONS_DIR.glob("*.py") if path.name != "__init__.py")


def test_migration_files_are_numbered_with_a_slug() -> None:
    assert [name for name in migration_files() if not FILE_NAME.match(name)] == []


def test_migration_numbers_and_revision_ids_are_unique() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    numbers = Counter(name[:4] for name in migration_files())
    revisions = Counter(rev.revision for rev in script.walk_revisions())

    assert [n for n, count in numbers.items() if count > 1] == []
    assert [r for r, count in revisions.items() if count > 1] == []
    assert len(revisions) == len(migration_files())


def test_migration_revision_is_its_number_and_revises_the_one_before() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    by_file = {
        rev.module.__file__.rsplit("/", 1)[-1]: rev
        for rev in script.walk_revisions()
        if rev.module.__file__
    }
    names = migration_files()

    for before, name in zip([None, *names], names, strict=False):
        rev = by_file[name]
        assert rev.revision == name[:4], name
        assert rev.down_revision == (before[:4] if before else None), name


def test_migration_head_read_without_alembic_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())

    assert script.get_heads() == [head_revision()]
