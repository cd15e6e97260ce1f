"""`homeschool-bot demo` as a user runs it: a subprocess on a machine with no set-up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pypdf import PdfReader

from bot.settings import Settings
from bot.texts import Lang, Texts
from bot.usecases.notices import consent_wording

pytestmark = pytest.mark.slow

# Importing the app alone takes several seconds on a busy machine.
RUN_TIMEOUT_S = 180
TEXTS = Texts()


def clean_env(**settings: str) -> dict[str, str]:
    """The runner's environment without any setting of the bot, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update(settings)
    return env


def run_demo(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def pdf_text(path: Path) -> str:
    return "\n".join(
        page.extract_text() or "" for page in PdfReader(BytesIO(path.read_bytes())).pages
    )


def assert_offline(transcript: str) -> None:
    """Telegram was the local emulator and the app listened on loopback only."""
    telegram = re.search(r"emulator at (http://\S+)", transcript)
    app = re.search(r"the app\s+(http://\S+)", transcript)
    assert telegram is not None and app is not None, transcript
    assert urlsplit(telegram.group(1)).hostname == "127.0.0.1"
    assert urlsplit(app.group(1)).hostname == "127.0.0.1"


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, (pattern, sorted(p.name for p in folder.iterdir()))
    return found[0]


def test_demo_kazakh_default_story_ends_with_receipt_pdfs(tmp_path: Path) -> None:
    out = tmp_path / "pdfs"
    result = run_demo(tmp_path, clean_env(), "--out", str(out))

    assert result.returncode == 0, result.stdout + result.stderr
    transcript = result.stdout
    assert_offline(transcript)
    kk = TEXTS.catalog(Lang.KK).text
    expected_lines = [
        "[health system] POST /api/v1/signals/vkk -> 202 case ",
        "[guardian] opens the bot: /start",
        f"[bot -> guardian] {kk('start.language_told').splitlines()[0]}",
        "[guardian] shares the phone number +77011234567",
        f"[guardian] presses «{kk('consent.agree_button')}»",
        '[guardian] types "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10"',
        f"[guardian] presses «{kk('form.confirm_button')}»",
        "[bot -> school chat] 📄 application-",
        f"[school] presses «{kk('staff.accept_button')}»",
        "[bot -> guardian] 📄 receipt-",
        "✅ the guardian received the receipt",
        "exit code 0",
    ]
    for line in expected_lines:
        assert line in transcript, f"{line!r} missing from:\n{transcript}"
    assert "[guardian] presses «Русский язык»" not in transcript  # Kazakh from Telegram
    assert "Traceback" not in result.stderr, result.stderr
    # Whole messages, wrapped: the consent text the guardian read is there in full.
    words = " ".join(line.strip() for line in transcript.splitlines())
    shown_consent = consent_wording(TEXTS, Lang.KK, Settings.model_fields["RETENTION_DAYS"].default)
    consent = re.sub(r"<[^>]+>", "", shown_consent.text).split()
    assert " ".join(consent) in " ".join(words.split())
    assert "more line" not in transcript and "…" not in transcript
    story = [line for line in transcript.splitlines() if re.match(r"\s*\d+\.\ds  \[| {9}\S", line)]
    assert len(story) > 60 and all(len(line) <= 110 for line in story), transcript
    # No log line inside the story, and the closing line times the story alone.
    assert not [line for line in transcript.splitlines() if " WARNING " in line]
    assert re.search(r"the story took \d+\.\d s \(signal to result", transcript), transcript
    registration = re.search(r"registration number (\S+)", transcript)
    assert registration is not None, transcript
    application = only(out, "application-*.pdf")
    receipt = only(out, "receipt-*.pdf")
    number = application.stem.removeprefix("application-")
    assert receipt.name == f"receipt-{number}.pdf"
    assert number in pdf_text(application)
    receipt_text = pdf_text(receipt)
    assert registration.group(1) in receipt_text
    assert number in receipt_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pdfs"], "the demo left files in its cwd"


def test_demo_russian_refusal_ignores_the_users_configuration(tmp_path: Path) -> None:
    # A real-looking configuration in .env and the environment must not leak into the
    # demo: were any of it used, the demo would try to reach an unroutable address.
    unroutable = "http://10.255.255.1:9"
    (tmp_path / ".env").write_text(
        f"BOT_TOKEN=111:from-dotenv\nTELEGRAM_API_URL={unroutable}\nWEBHOOK_BASE_URL={unroutable}\n"
    )
    env = clean_env(
        BOT_TOKEN="222:from-environment",
        TELEGRAM_API_URL=unroutable,
        REDIS_URL="redis://10.255.255.1:9/0",
        DATABASE_URL="postgresql+asyncpg://nobody@10.255.255.1:9/none",
    )
    result = run_demo(tmp_path, env, "--lang", "ru", "--refuse")

    assert result.returncode == 0, result.stdout + result.stderr
    transcript = result.stdout
    flat = " ".join(transcript.split())
    assert_offline(transcript)
    ru = TEXTS.catalog(Lang.RU).text
    for line in [
        f"[bot -> guardian] {ru('start.language_told').splitlines()[0]}",
        f"[guardian] presses «{ru('consent.agree_button')}»",
        f"[school] presses «{ru('staff.refuse_button')}»",
        f"[school] presses «{ru('staff.ground_button', ground=1)}»",
        '[school] replies to the bot: "ИИН ребёнка в заключении ВКК',
        "[bot -> guardian] Предварительное решение об отказе",
        '[guardian] types the position "ИИН в свидетельстве о рождении верный',
        "законный представитель представил позицию по предварительному решению об отказе:",
        "[bot -> guardian] Мотивированный отказ",
        "✅ the guardian received the school's reasoned refusal",
        "exit code 0",
    ]:
        # Messages are wrapped under their label: compare with the line breaks taken out.
        assert " ".join(line.split()) in flat, f"{line!r} missing from:\n{transcript}"
    assert "receipt-" not in transcript
    folder = re.search(r"output\s+(\S+) \(a new folder in the current directory\)", transcript)
    assert folder is not None, transcript
    out = Path(folder.group(1))
    assert out.parent == (tmp_path / "demo-output").resolve()
    application = only(out, "application-*.pdf")
    number = application.stem.removeprefix("application-")
    assert number in pdf_text(application)
    refusal = pdf_text(only(out, "refusal-*.pdf"))
    assert number in refusal and "ИИН ребёнка" in refusal
    assert "ИИН в свидетельстве о рождении верный" in refusal
    assert not list(out.glob("receipt-*"))


def test_demo_help_lists_its_options(tmp_path: Path) -> None:
    result = run_demo(tmp_path, clean_env(), "--help")

    assert result.returncode == 0, result.stderr
    for option in ("--lang", "--refuse", "--out"):
        assert option in result.stdout
