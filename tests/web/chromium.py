"""Debian's Chromium driven by Selenium, for the browser tests: forms, axe-core, screenshots.

Selenium is pointed at `/usr/bin/chromium` and `/usr/bin/chromedriver` and kept offline
(`SE_OFFLINE`), so Selenium Manager never downloads a browser or a driver. Calls block,
so async tests run them in a thread (`asyncio.to_thread`), keeping their event loop (the
Telegram emulator, the SMS gateway) answering meanwhile.

Every page a test visits goes through `check`: axe-core (vendored in `data/axe.min.js`,
npm `axe-core` 4.14.1, MPL-2.0) runs in the page and its serious or critical violations
are returned, and the page is saved as PNG at 360x800 and 1280x800 (the whole page
height, at least 800) under the artifacts folder.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NO_CHROMIUM = (
    "Debian's Chromium is not installed: apt-get install -y chromium chromium-driver "
    "(.ci/run installs it)"
)
AXE_SCRIPT = Path(__file__).parent / "data" / "axe.min.js"
ARTIFACTS = Path(
    os.environ.get("WEB_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)
SIZES = ((360, 800), (1280, 800))
BLOCKING = ("serious", "critical")
T = TypeVar("T")


async def step(fn: Callable[..., T], *args: Any) -> T:
    """One blocking browser move, off the event loop."""
    return await asyncio.to_thread(fn, *args)


def require_chromium() -> None:
    """Skip the calling test, with the reason, where the packages are missing."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(NO_CHROMIUM)


@dataclass
class Chromium:
    """One headless browser; `folder` is where its screenshots go."""

    base_url: str
    folder: Path
    lang: str = "ru"
    problems: dict[str, list[str]] = field(default_factory=dict)
    driver: Any = None

    def start(self) -> None:
        os.environ["SE_OFFLINE"] = "true"
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,800",
            f"--lang={self.lang}",
        ):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"intl.accept_languages": self.lang})
        self.driver = webdriver.Chrome(
            options=options, service=Service(executable_path=str(CHROMEDRIVER))
        )
        self.driver.set_script_timeout(60)
        self.folder.mkdir(parents=True, exist_ok=True)

    def quit(self) -> None:
        if self.driver is not None:
            self.driver.quit()

    # --- moves ---------------------------------------------------------------------

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def fill(self, name: str, value: str) -> None:
        from selenium.webdriver.common.by import By

        box = self.driver.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)

    def choose(self, element_id: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.ID, element_id).click()

    def press(self, css: str) -> None:
        """Click a button or link by CSS selector, and wait for the next page."""
        from selenium.webdriver.common.by import By

        self._and_wait(self.driver.find_element(By.CSS_SELECTOR, css).click)

    def follow(self, text: str) -> None:
        from selenium.webdriver.common.by import By

        self._and_wait(self.driver.find_element(By.PARTIAL_LINK_TEXT, text).click)

    def keyboard(self, css: str) -> None:
        """Reach the element by Tab alone, as a keyboard user does, and press Enter."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        target = self.driver.find_element(By.CSS_SELECTOR, css)
        for _ in range(40):
            ActionChains(self.driver).send_keys(Keys.TAB).perform()
            if self.driver.switch_to.active_element == target:
                press = ActionChains(self.driver).send_keys(Keys.ENTER).perform
                self._and_wait(press)
                return
        raise AssertionError(f"{css} cannot be reached by Tab")

    def _and_wait(self, move: Callable[[], object]) -> None:
        """Do `move`, then wait until another document has replaced this one and loaded
        (a click returns before the answer to its form arrives on a busy machine)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.wait import WebDriverWait

        before = self.driver.find_element(By.TAG_NAME, "html")
        move()
        wait = WebDriverWait(self.driver, 60)
        wait.until(lambda _: _replaced(before))
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    @property
    def path(self) -> str:
        url = str(self.driver.current_url)
        return url.removeprefix(self.base_url)

    @property
    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def post_without_token(self, action: str, fields: dict[str, str]) -> None:
        """Submit a form made in the page that lacks the CSRF token, as a forged one would."""
        script = (
            "const f = document.createElement('form'); f.method = 'post';"
            "f.action = arguments[0];"
            "for (const [k, v] of Object.entries(arguments[1])) {"
            " const i = document.createElement('input'); i.type = 'hidden';"
            " i.name = k; i.value = v; f.appendChild(i); }"
            "document.body.appendChild(f); f.submit();"
        )
        self.driver.execute_script(script, action, fields)

    def forget_cookies(self) -> None:
        self.driver.delete_all_cookies()

    def cookies(self) -> dict[str, str]:
        """The browser's cookies for this site, HttpOnly ones too (to act beside it)."""
        return {c["name"]: c["value"] for c in self.driver.get_cookies()}

    def form_token(self) -> str:
        """The CSRF token of the page's first form."""
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.NAME, "csrf").get_attribute("value"))

    def has(self, css: str) -> bool:
        from selenium.webdriver.common.by import By

        return bool(self.driver.find_elements(By.CSS_SELECTOR, css))

    def focused(self) -> str:
        """The id of the element that has the keyboard focus."""
        return str(self.driver.execute_script("return document.activeElement.id"))

    # --- checks ----------------------------------------------------------------------

    def check(self, name: str) -> list[str]:
        """axe-core's serious and critical violations of the page (kept in `problems`),
        after saving its screenshots."""
        for width, height in SIZES:
            self._screenshot(name, width, height)
        self.driver.execute_script(AXE_SCRIPT.read_text(encoding="utf-8"))
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done(r.violations)).catch(e => done([{impact: 'critical',"
            " id: 'axe-failed', help: String(e), nodes: []}]));"
        )
        found = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(" ".join(n["target"]) for n in v["nodes"][:3] if n.get("target"))
            for v in result
            if v.get("impact") in BLOCKING
        ]
        if found:
            self.problems[name] = found
        return found

    def _screenshot(self, name: str, width: int, height: int) -> None:
        set_metrics = "Emulation.setDeviceMetricsOverride"
        metrics = {"deviceScaleFactor": 1, "mobile": width < 600}
        self.driver.execute_cdp_cmd(set_metrics, {"width": width, "height": height, **metrics})
        full = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        self.driver.execute_cdp_cmd(
            set_metrics, {"width": width, "height": max(height, full), **metrics}
        )
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        safe = re.sub(r"[^a-z0-9-]+", "-", name.lower())
        (self.folder / f"{safe}-{width}x{height}.png").write_bytes(base64.b64decode(shot["data"]))
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _replaced(element: Any) -> bool:
    """Whether `element`'s document has gone: the element is stale, or Chromium, asked in
    the middle of the navigation, says the node no longer belongs to the document (which
    Selenium's `staleness_of` does not take for staleness and raises)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False
