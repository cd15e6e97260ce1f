"""A browser's moves at the HTTP level (cookies, forms with their CSRF token) and the SMS
gateway's side, for the page tests; the browser tests drive Chromium instead."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import aiohttp
from yarl import URL

from tests.e2e.harness import LoopbackReceiver, eventually

CODE_IN_SMS = re.compile(r"\b(\d{6})\b")


class _Forms(HTMLParser):
    """The hidden CSRF fields of a page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name") == "csrf" and found.get("value"):
            self.tokens.append(str(found["value"]))


def csrf_of(page: str) -> str:
    parser = _Forms()
    parser.feed(page)
    assert parser.tokens, "the page has no form with a CSRF token"
    return parser.tokens[0]


@dataclass
class Browser:
    """One visitor: its own cookies (Secure ones too, on loopback), no redirects followed."""

    base_url: str
    http: aiohttp.ClientSession

    @classmethod
    def open(cls, base_url: str, accept_language: str = "ru") -> Browser:
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[URL(base_url)])
        headers = {"Accept-Language": accept_language}
        return cls(base_url, aiohttp.ClientSession(cookie_jar=jar, headers=headers))

    async def get(self, path: str) -> tuple[int, str, dict[str, str]]:
        async with self.http.get(self.base_url + path, allow_redirects=False) as resp:
            return resp.status, await resp.text(), dict(resp.headers)

    async def get_bytes(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        async with self.http.get(self.base_url + path, allow_redirects=False) as resp:
            return resp.status, await resp.read(), dict(resp.headers)

    async def post(self, path: str, fields: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        async with self.http.post(self.base_url + path, data=fields, allow_redirects=False) as resp:
            return resp.status, await resp.text(), dict(resp.headers)

    async def submit(
        self, page_path: str, fields: dict[str, str], action: str | None = None
    ) -> tuple[int, str, dict[str, str]]:
        """Open `page_path`, take its form token, post `fields` to `action` (or the page)."""
        status, page, _ = await self.get(page_path)
        assert status == 200, (page_path, status)
        return await self.post(action or page_path, {"csrf": csrf_of(page), **fields})

    async def close(self) -> None:
        await self.http.close()


async def next_code(sms: LoopbackReceiver, phone: str, seen: int = 0) -> str:
    """The newest sign-in code the gateway got for `phone`, after the first `seen` ones."""

    async def probe() -> str | None:
        texts = [r.json()["text"] for r in sms.requests if r.json()["to"] == phone]
        if len(texts) <= seen:
            return None
        match = CODE_IN_SMS.search(texts[-1])
        return match.group(1) if match else None

    return await eventually(probe, what=f"a sign-in code for {phone}")


def codes_sent(sms: LoopbackReceiver, phone: str) -> int:
    return sum(1 for r in sms.requests if r.json()["to"] == phone)


async def sign_in(browser: Browser, sms: LoopbackReceiver, phone: str) -> None:
    """Phone, then the code from the SMS: the browser ends on the inbox."""
    seen = codes_sent(sms, phone)
    status, _, headers = await browser.submit("/school/signin", {"phone": phone})
    assert (status, headers.get("Location")) == (303, "/school/code")
    code = await next_code(sms, phone, seen)
    status, page, headers = await browser.submit("/school/code", {"code": code})
    assert (status, headers.get("Location")) == (303, "/school/"), page
