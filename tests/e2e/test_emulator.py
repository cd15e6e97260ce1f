"""The Telegram Bot API emulator driven by aiogram's real HTTP session and dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.methods import GetUpdates, SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.emulator import RateLimits, TelegramEmulator, UserHandle

TOKEN = "123456:TEST-token"


class FakeClock:
    """Monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class PromptCloseSession(AiohttpSession):
    """aiogram's HTTP session minus the 250 ms TLS grace sleep on close (plain HTTP here)."""

    opened: aiohttp.ClientSession | None = None

    async def create_session(self) -> aiohttp.ClientSession:
        self.opened = await super().create_session()
        return self.opened

    async def close(self) -> None:
        if self.opened is not None:
            await self.opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emu(clock: FakeClock) -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(TOKEN, clock=clock, webhook_retry_delay=0.01) as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    assert emu.base_url is not None
    session = PromptCloseSession(api=TelegramAPIServer.from_base(emu.base_url))
    async with Bot(TOKEN, session=session) as client:
        yield client


@contextlib.asynccontextmanager
async def polling(emu: TelegramEmulator, bot: Bot, *routers: Router) -> AsyncIterator[Dispatcher]:
    dp = Dispatcher()
    dp.include_routers(*routers)
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=2)
    )
    await emu.wait_until(lambda: bool(emu.calls_to("getMe")))
    try:
        yield dp
    finally:
        await dp.stop_polling()
        await task


async def started_user(emu: TelegramEmulator, user_id: int = 501, **profile: Any) -> UserHandle:
    user = emu.user(user_id=user_id, first_name="Айгүл", language_code="kk", **profile)
    await user.send_command("/start")
    return user


# --- round trips through a real Dispatcher ----------------------------------------------


async def test_start_deep_link_round_trip_reaches_handler_and_reply_is_recorded(
    emu: TelegramEmulator, bot: Bot
) -> None:
    router = Router()

    @router.message(CommandStart())
    async def on_start(message: Message, command: CommandObject) -> None:
        name = message.from_user.first_name if message.from_user else "?"
        await message.answer(f"Сәлем, {html.escape(name)}! {command.args}")

    user = emu.user(user_id=501, first_name="Айгүл", language_code="kk")
    async with polling(emu, bot, router):
        sent = await user.send_command("/start", "CASE-42")
        reply = await emu.wait_for_message(user.chat_id)

    assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert reply.text == "Сәлем, Айгүл! CASE-42"
    assert reply.message_id == sent["message_id"] + 1
    assert emu.updates_pending() == 0


async def test_button_press_reaches_callback_handler_and_answer_is_recorded(
    emu: TelegramEmulator, bot: Bot
) -> None:
    router = Router()
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Келісемін", callback_data="consent:7")]]
    )

    @router.message(Command("consent"))
    async def on_consent(message: Message) -> None:
        await message.answer("Келісім береді ме?", reply_markup=keyboard)

    @router.callback_query(F.data == "consent:7")
    async def on_accept(query: CallbackQuery) -> None:
        await query.answer("Қабылданды")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Келісім қабылданды")

    user = await started_user(emu)
    async with polling(emu, bot, router):
        await user.send_command("/consent")
        question = await emu.wait_for_message(user.chat_id)
        buttons_before = question.buttons()
        query_id = await user.press("Келісемін")
        await emu.wait_until(lambda: question.text == "Келісім қабылданды")

    assert buttons_before == ["Келісемін"]
    [answer] = emu.callback_answers
    assert (answer.callback_query_id, answer.text, answer.data) == (
        query_id,
        "Қабылданды",
        "consent:7",
    )
    assert question.history == ["Келісім береді ме?"]
    assert question.reply_markup is None


async def test_group_privacy_delivers_commands_and_replies_but_not_chatter(
    emu: TelegramEmulator, bot: Bot
) -> None:
    router = Router()
    seen: list[str] = []

    @router.message(Command("link"))
    async def on_link(message: Message, command: CommandObject) -> None:
        await message.reply(f"linked {command.args}")

    @router.message(F.text)
    async def on_text(message: Message) -> None:
        seen.append(message.text or "")

    group = emu.group(chat_id=-1001234567890, title="Мектеп 12")
    teacher = group.member(9001, "Мұғалім")
    async with polling(emu, bot, router):
        await teacher.send_text("hello everyone")
        await teacher.send_command("/start@other_bot")
        command = await teacher.send_command("/link", "CODE-1", mention=True)
        linked = await emu.wait_for_message(group.id)
        await teacher.reply_to(linked, "thanks")
        await emu.wait_until(lambda: seen == ["thanks"])

    assert linked.text == "linked CODE-1"
    assert linked.reply_to_message_id == command["message_id"]
    assert [c.params["chat_id"] for c in emu.calls_to("sendMessage")] == [str(group.id)]


async def test_every_user_update_kind_is_parsed_by_aiogram(emu: TelegramEmulator, bot: Bot) -> None:
    router = Router()
    seen: list[tuple[str, Any]] = []

    @router.message(F.contact)
    async def on_contact(message: Message) -> None:
        seen.append(("contact", message.contact and message.contact.user_id))

    @router.message()
    async def on_any(message: Message) -> None:
        seen.append(("message", message.content_type))

    @router.edited_message()
    async def on_edit(message: Message) -> None:
        seen.append(("edited", message.text))

    @router.inline_query()
    async def on_inline(query: InlineQuery) -> None:
        seen.append(("inline", query.query))

    @router.channel_post()
    async def on_post(message: Message) -> None:
        seen.append(("post", message.text))

    user = await started_user(emu, phone="+77011234567")
    async with polling(emu, bot, router):
        await user.share_contact()
        await user.share_contact("+77020000000", own=False, other_user_id=777)
        await user.send_sticker()
        await user.send_photo(caption="анықтама")
        await user.send_voice()
        await user.send_location()
        await user.send_text("typo")
        await user.send_edited("fixed")
        await user.send_inline_query("мектеп")
        await emu.channel(title="Жаңалықтар").post("news")
        await emu.wait_until(lambda: len(seen) == 11)

    assert sorted(seen, key=str) == sorted(
        [
            ("message", "text"),
            ("contact", 501),
            ("contact", 777),
            ("message", "sticker"),
            ("message", "photo"),
            ("message", "voice"),
            ("message", "location"),
            ("message", "text"),
            ("edited", "fixed"),
            ("inline", "мектеп"),
            ("post", "news"),
        ],
        key=str,
    )


# --- documents, edits, commands ------------------------------------------------------


async def test_send_document_keeps_bytes_and_serves_download(
    emu: TelegramEmulator, bot: Bot
) -> None:
    user = await started_user(emu)
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\nfake decision\n%%EOF"

    message = await bot.send_document(
        user.chat_id,
        BufferedInputFile(pdf, filename="decision.pdf"),
        caption="<b>Шешім</b>",
        parse_mode="HTML",
    )
    assert message.document is not None
    downloaded = await bot.download(message.document.file_id)

    [record] = emu.sent(user.chat_id)
    assert (record.document, record.document_filename, record.caption) == (
        pdf,
        "decision.pdf",
        "Шешім",
    )
    assert record.document_mime_type == "application/pdf"
    assert [e.type for e in message.caption_entities or []] == ["bold"]
    assert downloaded is not None and downloaded.read() == pdf


async def test_edit_and_delete_follow_telegram_rules(emu: TelegramEmulator, bot: Bot) -> None:
    user = await started_user(emu)
    message = await bot.send_message(user.chat_id, "v1")

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("v1", chat_id=user.chat_id, message_id=message.message_id)
    edited = await bot.edit_message_text("v2", chat_id=user.chat_id, message_id=message.message_id)
    await bot.delete_message(user.chat_id, message.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(user.chat_id, message.message_id)

    assert isinstance(edited, Message)
    assert edited.text == "v2" and edited.edit_date is not None
    assert emu.sent(user.chat_id) == []
    assert emu.sent(user.chat_id, include_deleted=True)[0].history == ["v1"]


async def test_set_my_commands_is_stored_per_language_and_scope(
    emu: TelegramEmulator, bot: Bot
) -> None:
    private = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands(
        [BotCommand(command="start", description="Бастау")], language_code="kk"
    )
    await bot.set_my_commands(
        [BotCommand(command="start", description="Начать")], language_code="ru"
    )
    await bot.set_my_commands(
        [BotCommand(command="help", description="Помощь")], scope=private, language_code="ru"
    )
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start!", description="x")])

    fetched = await bot.get_my_commands(language_code="kk")

    assert [(c.command, c.description) for c in fetched] == [("start", "Бастау")]
    assert emu.commands[("default", "ru")] == [{"command": "start", "description": "Начать"}]
    assert emu.command_names("ru", scope={"type": "all_private_chats"}) == ["help"]
    assert emu.command_names("en") == []


# --- content limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("я" * 4096, True), ("я" * 4097, False), ("<b>" + "x" * 4096 + "</b>", True)],
)
async def test_text_length_is_checked_after_entity_parsing(
    emu: TelegramEmulator, bot: Bot, text: str, accepted: bool
) -> None:
    user = await started_user(emu)
    send = bot.send_message(user.chat_id, text, parse_mode="HTML")
    if accepted:
        assert len((await send).text or "") == 4096
    else:
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await send


@pytest.mark.parametrize("text", ["   \n", "<b></b>"])
async def test_text_empty_after_parsing_is_rejected(
    emu: TelegramEmulator, bot: Bot, text: str
) -> None:
    user = await started_user(emu)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(user.chat_id, text, parse_mode="HTML")


async def test_caption_over_1024_is_rejected(emu: TelegramEmulator, bot: Bot) -> None:
    user = await started_user(emu)
    file = BufferedInputFile(b"%PDF-1.4", filename="a.pdf")
    await bot.send_document(user.chat_id, file, caption="c" * 1024)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(user.chat_id, file, caption="c" * 1025)
    assert len(emu.sent(user.chat_id)) == 1


@pytest.mark.parametrize(
    ("data", "accepted"),
    [("x" * 64, True), ("x" * 65, False), ("ж" * 32, True), ("ж" * 33, False)],
)
async def test_callback_data_is_limited_to_64_bytes(
    emu: TelegramEmulator, bot: Bot, data: str, accepted: bool
) -> None:
    user = await started_user(emu)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="b", callback_data=data)]]
    )
    send = bot.send_message(user.chat_id, "pick", reply_markup=markup)
    if accepted:
        sent = await send
        assert sent.reply_markup is not None
        assert sent.reply_markup.inline_keyboard[0][0].callback_data == data
    else:
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await send


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("Q&A", 'Character "&" must be escaped as "&amp;" at byte offset 1'),
        ("Ә <", "Unclosed start tag at byte offset 3"),
    ],
)
async def test_invalid_html_is_rejected_with_telegram_reason(
    emu: TelegramEmulator, bot: Bot, text: str, reason: str
) -> None:
    user = await started_user(emu)
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_message(user.chat_id, text, parse_mode="HTML")
    assert caught.value.message == f"Bad Request: can't parse entities: {reason}"


async def test_html_with_escaped_user_text_passes_with_utf16_entities(
    emu: TelegramEmulator, bot: Bot
) -> None:
    user = await started_user(emu)
    name = "<Айгүл & 😀>"
    text = f'<b>{html.escape(name)}</b> <a href="https://egov.kz/?a=1&amp;b=2">eGov</a>'

    message = await bot.send_message(user.chat_id, text, parse_mode="HTML")

    assert message.text == "<Айгүл & 😀> eGov"
    entities = [(e.type, e.offset, e.length, e.url) for e in message.entities or []]
    assert entities == [("bold", 0, 12, None), ("text_link", 13, 4, "https://egov.kz/?a=1&b=2")]


async def test_reply_keyboard_with_contact_request_is_recorded(
    emu: TelegramEmulator, bot: Bot
) -> None:
    user = await started_user(emu)
    keyboard = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Телефонды жіберу", request_contact=True)]],
        resize_keyboard=True,
    )

    message = await bot.send_message(user.chat_id, "Телефон?", reply_markup=keyboard)

    record = emu.last_sent(user.chat_id)
    assert record is not None and record.buttons() == ["Телефонды жіберу"]
    assert (
        record.reply_markup is not None and record.reply_markup["keyboard"][0][0]["request_contact"]
    )
    assert message.reply_markup is None  # Telegram echoes only inline keyboards


# --- chats the bot may not write to -----------------------------------------------------


async def test_unknown_chat_is_not_found_and_silent_user_is_forbidden(
    emu: TelegramEmulator, bot: Bot
) -> None:
    silent = emu.user(user_id=502, first_name="Silent")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(404404, "hi")
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation"):
        await bot.send_message(silent.chat_id, "hi")


async def test_blocked_user_gives_403(emu: TelegramEmulator, bot: Bot) -> None:
    user = await started_user(emu)
    await bot.send_message(user.chat_id, "first")
    user.block()
    with pytest.raises(TelegramForbiddenError) as caught:
        await bot.send_message(user.chat_id, "second")
    assert caught.value.message == "Forbidden: bot was blocked by the user"
    assert [m.text for m in emu.sent(user.chat_id)] == ["first"]


# --- rate limits and fault injection -------------------------------------------------------


async def test_second_message_to_private_chat_within_a_second_gets_429(
    emu: TelegramEmulator, bot: Bot, clock: FakeClock
) -> None:
    user = await started_user(emu)
    await bot.send_message(user.chat_id, "one")
    clock.advance(0.5)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(user.chat_id, "two")
    clock.advance(0.5)
    await bot.send_message(user.chat_id, "two again")

    assert caught.value.retry_after == 1
    assert emu.calls_to("sendMessage")[1].description == "Too Many Requests: retry after 1"
    assert emu.rejected_429 == 1
    assert [m.text for m in emu.sent(user.chat_id)] == ["one", "two again"]


async def test_global_rate_allows_30_messages_per_second(
    emu: TelegramEmulator, bot: Bot, clock: FakeClock
) -> None:
    users = [await started_user(emu, user_id=1000 + i) for i in range(31)]
    for user in users[:30]:
        await bot.send_message(user.chat_id, "broadcast")
        clock.advance(0.01)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(users[30].chat_id, "broadcast")
    clock.advance(0.71)
    await bot.send_message(users[30].chat_id, "broadcast")

    assert caught.value.retry_after == 1
    assert emu.rejected_429 == 1
    assert [c.params["chat_id"] for c in emu.calls if c.error_code == 429] == [str(users[30].id)]


async def test_group_rate_allows_20_messages_per_minute(
    emu: TelegramEmulator, bot: Bot, clock: FakeClock
) -> None:
    group = emu.group(chat_id=-1009, title="Staff")
    for _ in range(20):
        await bot.send_message(group.id, "update")
        clock.advance(1.0)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(group.id, "update")
    assert caught.value.retry_after == 40


async def test_rate_limits_can_be_switched_off(emu: TelegramEmulator, bot: Bot) -> None:
    user = await started_user(emu)
    emu.set_rate_limits(RateLimits.disabled())
    for i in range(5):
        await bot.send_message(user.chat_id, str(i))
    assert len(emu.sent(user.chat_id)) == 5


async def test_fault_injection_fails_next_calls_then_recovers(
    emu: TelegramEmulator, bot: Bot
) -> None:
    user = await started_user(emu)
    emu.fail_next("sendMessage", error_code=500)
    emu.fail_next("sendMessage", error_code=429, retry_after=7)

    with pytest.raises(TelegramServerError):
        await bot.send_message(user.chat_id, "a")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(user.chat_id, "b")
    await bot.send_message(user.chat_id, "c")

    assert caught.value.retry_after == 7
    assert [(c.ok, c.error_code) for c in emu.calls_to("sendMessage")] == [
        (False, 500),
        (False, 429),
        (True, None),
    ]


# --- transport: tokens, methods, polling, webhooks ------------------------------------------


async def test_wrong_token_is_401_and_unknown_method_is_404(emu: TelegramEmulator) -> None:
    assert emu.base_url is not None
    session = PromptCloseSession(api=TelegramAPIServer.from_base(emu.base_url))
    async with Bot("999:WRONG", session=session) as stranger:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    url = f"{emu.base_url}/bot{TOKEN}/sendTelepathy"
    async with aiohttp.ClientSession() as http, http.post(url) as response:
        body = await response.json()

    assert (response.status, body) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )


async def test_get_urlencoded_and_json_requests_are_understood(emu: TelegramEmulator) -> None:
    user = await started_user(emu)
    emu.set_rate_limits(RateLimits.disabled())
    api = f"{emu.base_url}/bot{TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api}/getMe") as response:
            me = await response.json()
        async with http.post(f"{api}/sendMessage", data={"chat_id": user.id, "text": "form"}):
            pass
        payload = {"chat_id": user.id, "text": "json", "reply_markup": {"force_reply": True}}
        async with http.post(f"{api}/SENDMESSAGE", json=payload) as response:
            sent = await response.json()

    assert me["result"]["username"] == "homeschool_test_bot" and me["result"]["is_bot"]
    assert sent["ok"] and sent["result"]["text"] == "json"
    assert [m.text for m in emu.sent(user.id)] == ["form", "json"]
    assert emu.sent(user.id)[1].reply_markup == {"force_reply": True}


async def test_newer_get_updates_terminates_older_poll_with_409(
    emu: TelegramEmulator, bot: Bot
) -> None:
    older = asyncio.create_task(bot(GetUpdates(timeout=5)))
    await emu.wait_until(lambda: emu.poll_count == 1)
    newer = await bot(GetUpdates())

    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await older
    assert newer == []


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    emu: TelegramEmulator, bot: Bot
) -> None:
    user = await started_user(emu)
    first = await bot(GetUpdates(timeout=5))
    poll = asyncio.create_task(bot(GetUpdates(offset=first[-1].update_id + 1, timeout=5)))
    await emu.wait_until(lambda: emu.poll_count == 2)
    started = time.monotonic()
    await user.send_text("ping")
    updates = await poll

    assert time.monotonic() - started < 1.0
    assert [u.message.text for u in updates if u.message] == ["ping"]
    assert updates[0].update_id == first[-1].update_id + 1
    assert emu.updates_pending() == 1


async def test_webhook_delivery_uses_secret_and_retries_until_2xx(
    emu: TelegramEmulator, bot: Bot
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(status=500 if len(received) == 1 else 200)

    app = web.Application()
    app.router.add_post("/hook", receive)
    async with serve(app) as url:
        user = await started_user(emu)
        await bot.set_webhook(f"{url}/hook", secret_token="s3cret-TOKEN_1")
        await emu.wait_until(lambda: len(received) == 2)
        await emu.wait_until(lambda: emu.updates_pending() == 0)
        info = await bot.get_webhook_info()
        with pytest.raises(TelegramConflictError):
            await bot(GetUpdates())
        await bot.delete_webhook()

    assert [secret for secret, _ in received] == ["s3cret-TOKEN_1"] * 2
    assert received[0][1] == received[1][1]
    assert received[0][1]["message"]["text"] == "/start"
    assert received[0][1]["message"]["from"]["id"] == user.id
    assert info.url == f"{url}/hook" and info.pending_update_count == 0
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert await bot(GetUpdates()) == []


async def test_webhook_reply_in_response_body_is_executed(emu: TelegramEmulator, bot: Bot) -> None:
    router = Router()

    @router.message(F.text == "ping")
    async def on_ping(message: Message) -> SendMessage:
        return message.answer("pong")

    dp = Dispatcher()
    dp.include_router(router)
    app = web.Application()
    handler = SimpleRequestHandler(dp, bot, secret_token="abc", handle_in_background=False)
    handler.register(app, path="/tg")
    async with serve(app) as url:
        user = await started_user(emu)
        await bot.set_webhook(f"{url}/tg", secret_token="abc")
        await user.send_text("ping")
        reply = await emu.wait_for_message(user.chat_id)

    assert reply.text == "pong"


async def test_pooled_webhook_overlaps_chats_but_keeps_each_chat_in_order() -> None:
    """With several connections (Telegram keeps up to 40 open), slow updates of one chat
    don't hold up the others; one chat's updates never overlap, and one that failed is
    delivered again before that chat's next."""
    in_flight: Counter[int] = Counter()
    peaks = {"all": 0, "one_chat": 0}
    seen: defaultdict[int, list[str]] = defaultdict(list)
    failures: list[int] = []

    async def receive(request: web.Request) -> web.Response:
        message = (await request.json())["message"]
        chat = message["chat"]["id"]
        in_flight[chat] += 1
        peaks["all"] = max(peaks["all"], sum(in_flight.values()))
        peaks["one_chat"] = max(peaks["one_chat"], in_flight[chat])
        await asyncio.sleep(0.05)
        in_flight[chat] -= 1
        if message["text"] == "1" and not failures:
            failures.append(chat)
            return web.Response(status=502)
        seen[chat].append(message["text"])
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    emulator = TelegramEmulator(TOKEN, webhook_retry_delay=0.01, webhook_connections=3)
    async with emulator as emu, serve(app) as url:
        session = PromptCloseSession(api=TelegramAPIServer.from_base(str(emu.base_url)))
        async with Bot(TOKEN, session=session) as bot:
            users = [emu.user(user_id=600 + n) for n in range(5)]
            for text in ("0", "1", "2"):
                for user in users:
                    await user.send_text(text)
            await bot.set_webhook(f"{url}/hook")
            await emu.wait_until(lambda: emu.updates_pending() == 0, timeout=10)

    assert dict(seen) == {user.chat_id: ["0", "1", "2"] for user in users}
    assert len(failures) == 1
    assert peaks == {"all": 3, "one_chat": 1}


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
