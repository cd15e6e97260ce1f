"""Every text key a page template asks for exists in both catalogs (the code's keys are
checked by test_texts; templates call `t("key")` without a language)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.texts import Lang, Texts
from bot.usecases.guardian_web import DOCUMENT_KINDS
from handlers.web.app import TEMPLATES

TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_.0-9]*[a-z_0-9])["']""")
# Keys a template builds from a value: `t("web.document." ~ kind)`, `t("ground." ~ g)`.
BUILT_KEYS = {f"web.document.{kind}" for kind in DOCUMENT_KINDS} | {
    "ground.1",
    "ground.2",
    "ground.3",
}


def test_web_templates_ask_only_for_known_keys() -> None:
    texts = Texts()
    used = BUILT_KEYS | {
        key
        for path in Path(TEMPLATES).rglob("*.html")
        for key in TEMPLATE_KEY.findall(path.read_text(encoding="utf-8"))
    }
    missing = {lang.value: sorted(used - set(texts.catalog(lang).messages)) for lang in Lang}

    assert len(used) > 30, "the scan found too few keys: the pattern is broken"
    assert missing == {"kk": [], "ru": []}
