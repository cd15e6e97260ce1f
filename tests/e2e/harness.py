"""The real application against the Telegram emulator, in one event loop.

`Stack` starts `bot.app.run_application` (the code path of `homeschool-bot run`) with
aiogram's real HTTP session pointed at the emulator, and offers the moves a health
system, a guardian and a school make.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bot.app import run_application
from bot.clock import ShiftedClock
from bot.emulator import CallbackAnswer, SentMessage, TelegramEmulator, UserHandle
from bot.runtime import Services
from bot.settings import Settings
from bot.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignedRequest, signature_problem
from bot.texts import Lang
from bot.usecases.application import load_draft
from bot.usecases.registry import RegistryLine, import_school_registry
from storage.models import AuditEvent, Case, ConsentRecord, ConsentText, Document, OutboxMessage
from tests.conftest import ALMATY, DATA_KEY, SIGNAL_SECRET
from tests.factories import make_bin, make_phone, signal_payload, signed

TOKEN = "424242:emulated-token"
WORKING_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=ALMATY)


class ServedApp(Protocol):
    """What the moves below need of the app: its services (database, texts) and its
    HTTP port. A `RunningApp` in this loop has both; so does a `bot run` subprocess
    seen from the test, which reads the same database."""

    @property
    def svc(self) -> Services: ...

    @property
    def port(self) -> int: ...


@dataclass
class Stack:
    """The moves of a health system, guardian and school against one app.

    `patience` bounds each wait for the bot (a message, a status); tests that load the
    bot with hundreds of chats at once raise it, since Telegram's pace then queues
    every chat's next message behind the others.
    """

    emu: TelegramEmulator
    app: ServedApp
    http: aiohttp.ClientSession
    patience: float = 10.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.app.port}"

    async def post_signal(self, **overrides: Any) -> dict[str, Any]:
        payload = signal_payload(**overrides)
        body, headers = signed(payload, SIGNAL_SECRET, self.app.svc.clock.timestamp())
        async with self.http.post(
            f"{self.base_url}/api/v1/signals/vkk", data=body, headers=headers
        ) as resp:
            answer = await resp.json()
            assert resp.status == 202, answer
        return {**answer, "payload": payload}

    async def add_school(self, **cells: object) -> str:
        """Import one registry line the way `schools import` does; returns its BIN."""
        bin_ = str(cells.setdefault("bin", make_bin()))
        cells.setdefault("name_kk", "№ 12 жалпы орта білім беретін мектеп")
        cells.setdefault("name_ru", "Общеобразовательная школа № 12")
        cells.setdefault("authority_kk", "Алматы облысының білім басқармасы")
        cells.setdefault("authority_ru", "Управление образования Алматинской области")
        line = RegistryLine(
            number=2, cells={k: "" if v is None else str(v) for k, v in cells.items()}
        )
        report = await import_school_registry(self.app.svc, [line])
        assert report.imported == 1, report.rejections
        return bin_

    async def link_guardian(self, user: UserHandle) -> None:
        """Open the bot and share the own phone (the language is the one Telegram reports)."""
        await user.send_command("/start")
        await self.emu.wait_for_message(
            user.chat_id,
            lambda m: m.reply_markup is not None and "keyboard" in m.reply_markup,
            timeout=self.patience,
        )
        await user.share_contact()

    async def next_message(
        self,
        chat_id: int,
        contains: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline per wait is the point
    ) -> SentMessage:
        def matches(message: SentMessage) -> bool:
            text = message.text or message.caption or ""
            return contains is None or contains in text

        return await self.emu.wait_for_message(chat_id, matches, timeout=timeout or self.patience)


def stack_settings(database_url: str, emu_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "DATABASE_URL": database_url,
        "SIGNAL_SECRETS": SIGNAL_SECRET.decode(),
        "DATA_KEY": DATA_KEY,
        "HTTP_PORT": 0,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emu_url,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running_stack(
    tmp_path: Path, database_url: str | None = None, **settings: object
) -> AsyncIterator[Stack]:
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    async with TelegramEmulator(token=TOKEN) as emu:
        assert emu.base_url is not None
        config = stack_settings(url, emu.base_url, **settings)
        clock = ShiftedClock(WORKING_MORNING, ALMATY)
        async with run_application(config, clock=clock) as app, aiohttp.ClientSession() as http:
            yield Stack(emu=emu, app=app, http=http)


def pdf_text(data: bytes) -> str:
    from io import BytesIO

    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(BytesIO(data)).pages)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# --- school side: loopback receivers, a movable clock, a submitted case --------------

T = TypeVar("T")


@dataclass
class ReceivedRequest:
    """One POST a `LoopbackReceiver` got, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    problem: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


def school_signature_check(
    secret: str, clock: ShiftedClock
) -> Callable[[ReceivedRequest], str | None]:
    """What a school's side does with our webhook: check the signature (DESIGN 4.5, POST
    and the path of its URL) with its own secret, at the time of the test's clock."""

    def check(request: ReceivedRequest) -> str | None:
        return signature_problem(
            [secret.encode()],
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            SignedRequest("POST", request.path, request.body),
            clock.timestamp(),
        )

    return check


@dataclass
class LoopbackReceiver:
    """A real HTTP endpoint on 127.0.0.1 (a school's webhook, the SMS gateway).

    It answers `fail_status` to the first `fail_first` requests, then 200. `check`
    may refuse a request (answered 401) by returning a problem, e.g. a bad signature.
    """

    fail_first: int = 0
    fail_status: int = 500
    check: Callable[[ReceivedRequest], str | None] | None = None
    requests: list[ReceivedRequest] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def delivered(self) -> list[ReceivedRequest]:
        """Requests answered with a 2xx: what the receiving side counts as delivered."""
        return [r for r in self.requests if 200 <= r.status < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        seen = ReceivedRequest(request.path, dict(request.headers), await request.read(), 200)
        if len(self.requests) < self.fail_first:
            seen.status = self.fail_status
        elif self.check is not None and (problem := self.check(seen)) is not None:
            seen.status, seen.problem = 401, problem
        self.requests.append(seen)
        return web.json_response({"ok": 200 <= seen.status < 300}, status=seen.status)

    async def __aenter__(self) -> LoopbackReceiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_delivered(self, count: int = 1, timeout: float = 10.0) -> list[ReceivedRequest]:  # noqa: ASYNC109
        """Wait until `count` requests were answered 2xx; return those."""
        await eventually(lambda: _at_least(self.delivered, count), timeout=timeout)
        return self.delivered


async def _at_least(items: list[T], count: int) -> list[T] | None:
    return items if len(items) >= count else None


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline per wait is the point
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something other than None (or False)."""
    try:
        async with asyncio.timeout(timeout):
            while not (found := await probe()):  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout} s") from None
    return found


class MovableClock(ShiftedClock):
    """Real time from a working morning that a test can move forward at once, so that
    outbox retry backoffs (seconds of real time) pass without waiting; pass it to
    `running_stack_on`."""

    def __init__(self, start: datetime = WORKING_MORNING, zone: ZoneInfo = ALMATY) -> None:
        super().__init__(start, zone)
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta


@dataclass
class SubmittedCase:
    """A case the guardian confirmed in the chat; `copy` is their application PDF."""

    case_id: str
    guardian: UserHandle
    copy: SentMessage
    signal: dict[str, Any]


async def submit_case(
    stack: Stack,
    school_bin: str,
    *,
    first_name: str = "Айгүл",
    address: str = "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10",
) -> SubmittedCase:
    """A new Kazakh-speaking guardian links, gets a signal for `school_bin`, consents,
    gives the address and confirms: the case is `submitted` and on its way to the school."""
    phone = make_phone()
    user = stack.emu.user(first_name=first_name, language_code="kk", phone=phone)
    await stack.link_guardian(user)
    await stack.next_message(user.chat_id, "Рахмет")
    created = await stack.post_signal(
        guardian={"phone": phone, "iin": None}, school={"bin": school_bin, "grade": 4}
    )
    await stack.next_message(user.chat_id, "Келісім бересіз бе?")
    # The notice can reach the chat a moment before its delivery is recorded (`notified`);
    # a press in between is refused as stale, so wait like a person would.
    await wait_for_status(stack, str(created["case_id"]), "notified", timeout=stack.patience)
    await user.press("✅ Келісемін")
    await stack.next_message(user.chat_id, "мекенжайын")
    await user.send_text(address)
    await stack.next_message(user.chat_id, "Өтінішті тексеріңіз")
    await user.press("✅ Растау")
    copy = await stack.next_message(user.chat_id, "берілді")
    return SubmittedCase(str(created["case_id"]), user, copy, created["payload"])


async def load_case(stack: Stack, case_id: str) -> Case:
    """The case row as stored now."""
    async with stack.app.svc.sessions() as session:
        case = await session.get(Case, case_id)
    assert case is not None, case_id
    return case


async def asked_step(stack: Stack, case_id: str) -> str | None:
    """The form question the draft records as asked: where the guardian is in the form."""
    async with stack.app.svc.sessions() as session:
        _, draft = await load_draft(session, stack.app.svc.cipher, case_id)
    return draft.asked.value if draft.asked else None


async def wait_for_status(stack: Stack, case_id: str, status: str, timeout: float = 10.0) -> Case:  # noqa: ASYNC109
    """Wait until the case reaches `status` (e.g. `forwarded` once the school got it)."""

    async def probe() -> Case | None:
        case = await load_case(stack, case_id)
        return case if case.status == status else None

    return await eventually(probe, timeout=timeout, what=f"case {case_id} -> {status}")


async def audit_events(stack: Stack, case_id: str | None) -> list[AuditEvent]:
    """The audit trail of a case (None: events about no case), oldest first."""
    async with stack.app.svc.sessions() as session:
        query = select(AuditEvent).where(
            AuditEvent.case_id.is_(None) if case_id is None else AuditEvent.case_id == case_id
        )
        return list((await session.scalars(query.order_by(AuditEvent.id))).all())


async def outbox_rows(stack: Stack, case_id: str, kind: str | None = None) -> list[OutboxMessage]:
    """The outbox rows of a case (optionally of one kind), oldest first."""
    async with stack.app.svc.sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.case_id == case_id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list((await session.scalars(query.order_by(OutboxMessage.id))).all())


# --- guardian side: a restart on one emulator, texts as shown, toasts, records ----------

LANGUAGE_BUTTONS = {"kk": "Қазақ тілі", "ru": "Русский язык"}


@asynccontextmanager
async def running_stack_on(
    emu: TelegramEmulator,
    tmp_path: Path,
    database_url: str | None = None,
    clock: ShiftedClock | None = None,
    **settings: object,
) -> AsyncIterator[Stack]:
    """`running_stack` on an emulator the test owns.

    Leaving the block shuts the whole process down cleanly; a second block on the same
    emulator and database is the restarted process, while Telegram (users, chats, sent
    messages, unconfirmed updates) stays as it was. Pass one `clock` to both runs so
    time goes on across the restart.
    """
    assert emu.base_url is not None
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    config = stack_settings(url, emu.base_url, **settings)
    clock = clock or ShiftedClock(WORKING_MORNING, ALMATY)
    async with run_application(config, clock=clock) as app, aiohttp.ClientSession() as http:
        yield Stack(emu=emu, app=app, http=http)


async def post_payload(stack: Stack, payload: dict[str, Any]) -> dict[str, Any]:
    """Post a prepared signal (e.g. one without the optional `school` key); expects 202."""
    body, headers = signed(payload, SIGNAL_SECRET, stack.app.svc.clock.timestamp())
    url = f"{stack.base_url}/api/v1/signals/vkk"
    async with stack.http.post(url, data=body, headers=headers) as resp:
        answer = await resp.json()
        assert resp.status == 202, answer
    return {**answer, "payload": payload}


async def signal_for(stack: Stack, user: UserHandle, **overrides: Any) -> dict[str, Any]:
    """Post a signal whose guardian phone is `user`'s; `guardian` overrides are merged."""
    guardian = {"phone": user.user.phone, "iin": None, **overrides.pop("guardian", {})}
    return await stack.post_signal(guardian=guardian, **overrides)


def shown(stack: Stack, lang: str, key: str, **params: object) -> str:
    """A catalog text as the user reads it: HTML tags parsed away, entities unescaped."""
    rendered = stack.app.svc.texts(lang, key, **params)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


def fragment(stack: Stack, lang: str, key: str) -> str:
    """The literal start of a catalog text, up to its first placeholder, as the user reads it."""
    template = stack.app.svc.texts.catalog(Lang(lang)).messages[key].split("{", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", "", template)).strip()


def chat_texts(stack: Stack, chat_id: int) -> list[str]:
    """Every text and caption the bot sent to a chat, oldest first."""
    return [m.text or m.caption or "" for m in stack.emu.sent(chat_id)]


async def next_document(stack: Stack, chat_id: int, timeout: float = 10.0) -> SentMessage:  # noqa: ASYNC109
    """Wait for the next document (a PDF) the bot sends to a chat."""
    return await stack.emu.wait_for_message(
        chat_id, lambda m: m.document is not None, timeout=timeout
    )


async def toast(stack: Stack, query_id: str, timeout: float = 10.0) -> CallbackAnswer:  # noqa: ASYNC109
    """Wait for the bot's answer to one button press (its toast text may be None)."""
    found: list[CallbackAnswer] = []

    def answered() -> bool:
        found[:] = [a for a in stack.emu.callback_answers if a.callback_query_id == query_id]
        return bool(found)

    await stack.emu.wait_until(answered, timeout=timeout, recheck=None)
    return found[0]


async def refused_with(stack: Stack, chat_id: int, query_id: str, text: str) -> bool:
    """Whether a button press was refused with `text`: as its toast, or, when the use case
    took longer than a press may wait (`TAP_ANSWER_WITHIN_S`, a loaded machine) and the
    press was answered empty, as the message the error router sends to the chat instead."""
    answer = await toast(stack, query_id)
    if answer.text is not None:
        return answer.text == text
    since = int(stack.emu.state.callback_queries[query_id]["sent_before"])

    def told() -> bool:
        later = stack.emu.state.sent[since:]
        return any(m.chat_id == chat_id and m.text == text for m in later)

    try:
        await stack.emu.wait_until(told, timeout=10.0, recheck=None)
    except TimeoutError:
        return False
    return True


def presses(stack: Stack, user: UserHandle) -> int:
    """How many inline buttons `user` has pressed so far (callback queries sent)."""
    return sum(1 for q in stack.emu.state.callback_queries.values() if q["user_id"] == user.id)


def actions(stack: Stack, user: UserHandle) -> int:
    """Everything `user` did in their chat with the bot: messages, commands, the shared
    contact, and button presses."""
    chat = stack.emu.state.chats[user.chat_id]
    sent = sum(1 for m in chat.messages.values() if m.get("from", {}).get("id") == user.id)
    return sent + presses(stack, user)


async def linked_guardian(stack: Stack, lang: str = "kk", first_name: str = "Айгүл") -> UserHandle:
    """A new user who opened the bot, chose `lang` and shared their own phone (no cases yet)."""
    user = stack.emu.user(first_name=first_name, language_code=lang, phone=make_phone())
    await stack.link_guardian(user)
    await stack.next_message(user.chat_id, shown(stack, lang, "identity.no_cases"))
    return user


async def consent_records(stack: Stack, case_id: str) -> list[ConsentRecord]:
    """The consent evidence of a case, oldest first."""
    async with stack.app.svc.sessions() as session:
        query = select(ConsentRecord).where(ConsentRecord.case_id == case_id)
        return list((await session.scalars(query.order_by(ConsentRecord.id))).all())


async def stored_consent_text(stack: Stack, sha256: str) -> ConsentText:
    """The consent wording kept in the database under its hash."""
    async with stack.app.svc.sessions() as session:
        query = select(ConsentText).where(ConsentText.sha256 == sha256)
        return (await session.scalars(query)).one()


async def documents(stack: Stack, case_id: str) -> list[Document]:
    """The generated PDFs of a case (application, receipt), oldest first."""
    async with stack.app.svc.sessions() as session:
        query = select(Document).where(Document.case_id == case_id)
        return list((await session.scalars(query.order_by(Document.id))).all())


def pdf_words(data: bytes) -> str:
    """The PDF's text with every run of whitespace (justification, line wraps) as one space."""
    return " ".join(pdf_text(data).split())


async def post_decision(
    stack: Stack, case_id: str, body: dict[str, Any], *, key: str | None = None
) -> tuple[int, dict[str, Any]]:
    """`POST /api/v1/cases/{id}/decision` as a school's system; returns (status, JSON)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    url = f"{stack.base_url}/api/v1/cases/{case_id}/decision"
    async with stack.http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()
