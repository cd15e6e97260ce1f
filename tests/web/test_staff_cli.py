"""`homeschool-bot schools staff add|list|remove`, the real command on a real database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA_KEY
from tests.e2e.test_cli import run_cli
from tests.factories import make_bin
from tests.process import clean_env

pytestmark = pytest.mark.slow


def test_staff_cli_add_list_remove_and_refusals(tmp_path: Path) -> None:
    env = clean_env(DATA_KEY=DATA_KEY, PUBLIC_BASE_URL="https://bala.kz")
    bin_ = make_bin()
    (tmp_path / "schools.csv").write_text(f"bin,name_ru\n{bin_},Школа № 7\n", encoding="utf-8")
    assert run_cli(tmp_path, env, "schools", "import", "schools.csv").returncode == 0

    added = run_cli(
        tmp_path,
        env,
        "schools",
        "staff",
        "add",
        bin_,
        "--name",
        "Гүлнар  Ахметова",
        "--phone",
        "8 701 555 12 34",
    )
    twice = run_cli(
        tmp_path,
        env,
        "schools",
        "staff",
        "add",
        bin_,
        "--name",
        "Другая",
        "--phone",
        "+77015551234",
    )
    bad_phone = run_cli(
        tmp_path, env, "schools", "staff", "add", bin_, "--name", "Гүлнар", "--phone", "12345"
    )
    listed = run_cli(tmp_path, env, "schools", "staff", "list", bin_)
    removed = run_cli(tmp_path, env, "schools", "staff", "remove", bin_, "--phone", "+77015551234")
    again = run_cli(tmp_path, env, "schools", "staff", "remove", bin_, "--phone", "+77015551234")
    empty = run_cli(tmp_path, env, "schools", "staff", "list", bin_)

    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == (
        f"added #1 staff Гүлнар Ахметова +77015551234 to school {bin_}; "
        "signs in at https://bala.kz/school"
    )
    assert (twice.returncode, bad_phone.returncode) == (1, 1)
    assert "already has an account" in twice.stderr and "Kazakh mobile" in bad_phone.stderr
    assert listed.stdout.splitlines() == [
        "#1 staff Гүлнар Ахметова +77015551234",
        f"1 account(s) at school {bin_}",
    ]
    assert removed.returncode == 0 and "sessions have ended" in removed.stdout
    assert again.returncode == 1 and "no account" in again.stderr
    assert empty.stdout.strip() == f"0 account(s) at school {bin_}"
