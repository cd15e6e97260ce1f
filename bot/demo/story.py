"""The scripted actors: a health system, a guardian and a school's staff member.

Each actor does what its real counterpart does: the health system signs and POSTs a
signal over HTTP, the guardian and the staff member press buttons and type in
Telegram (the emulator), reacting to what the bot asks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from bot.clock import Clock
from bot.demo.cast import REFUSAL_GROUND, Cast
from bot.demo.scene import DemoFailed, Reaction, Scene
from bot.domain.identifiers import case_number
from bot.domain.status import CaseStatus
from bot.emulator import MemberHandle, SentMessage, UserHandle
from bot.signing import signed_headers

SIGNALS_PATH = "/api/v1/signals/vkk"
T = TypeVar("T")
U = TypeVar("U")


class HealthSystem:
    """Posts a signed VKK signal to the bot's HTTP API (DESIGN 4.3)."""

    who = "health system"

    def __init__(
        self, scene: Scene, http: aiohttp.ClientSession, api_url: str, secret: bytes, clock: Clock
    ) -> None:
        self._scene, self._http, self._url = scene, http, api_url + SIGNALS_PATH
        self._secret, self._clock = secret, clock

    async def send_signal(self, payload: dict[str, Any]) -> str:
        """POST the signal; return the case id of the `202` answer."""
        conclusion, child = payload["conclusion"], payload["child"]
        self._scene.act(
            self.who,
            f"VKK conclusion № {conclusion['number']}: home schooling for {child['full_name']}",
        )
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = signed_headers(self._secret, "POST", SIGNALS_PATH, body, self._clock.timestamp())
        headers["Content-Type"] = "application/json"
        async with self._http.post(self._url, data=body, headers=headers) as response:
            answer = await response.json(content_type=None)
        case_id = str(answer.get("case_id", ""))
        outcome = f"case {case_number(case_id)}" if case_id else json.dumps(answer)[:200]
        self._scene.act(self.who, f"POST {SIGNALS_PATH} -> {response.status} {outcome}")
        if response.status != 202 or not case_id:
            raise DemoFailed(f"the bot refused the health signal: {response.status} {answer}")
        return case_id


class Guardian:
    """Opens the bot (in the language Telegram reports), shares the phone, consents and applies."""

    who = "guardian"

    def __init__(self, scene: Scene, user: UserHandle, cast: Cast) -> None:
        self._scene, self._user, self._cast = scene, user, cast

    async def open_bot(self) -> None:
        self._scene.act(self.who, "opens the bot: /start")
        await self._user.send_command("/start")

    async def apply(self) -> SentMessage:
        """Answer the bot until the application is filed; return the message with its PDF."""
        say = self._scene.say
        reactions = {
            # Telegram's interface language is the story's: the greeting names it and
            # asks for the phone in the same message.
            "start.language_told": self._share_phone,
            "identity.ask_contact": self._share_phone,
            "consent.question": self._button(say("consent.agree_button")),
            "form.ask_grade": self._button(say("form.grade_button", grade=4)),
            "form.ask_address": self._type_address,
            "form.ask_note": self._button(say("form.note_skip_button")),
            "form.summary": self._button(say("form.confirm_button")),
        }
        until = ["form.submitted"]
        _, message = await self._scene.converse(self._user.chat_id, self.who, reactions, until)
        if message.document is None:
            raise DemoFailed("the guardian got no application PDF")
        return message

    async def await_result(self) -> tuple[str, SentMessage]:
        """Wait for the school's answer: a receipt or, after the hearing, a reasoned
        refusal (both PDFs); a preliminary refusal is answered with a typed position."""
        reactions: dict[str, Reaction] = {
            "hearing.invitation": self._state_position,
            "hearing.position_received": None,
            "result.refused": None,
        }
        until = ["result.accepted", "result.refused_caption"]
        return await self._scene.converse(self._user.chat_id, self.who, reactions, until)

    async def _state_position(self, _: SentMessage) -> None:
        self._scene.act(self.who, f'types the position "{self._cast.hearing_position}"')
        await self._user.send_text(self._cast.hearing_position)

    def _button(self, label: str) -> Reaction:
        async def press(message: SentMessage) -> None:
            await self._scene.press(self._user, self.who, label, message)

        return press

    async def _share_phone(self, _: SentMessage) -> None:
        self._scene.act(self.who, f"shares the phone number {self._user.user.phone}")
        await self._user.share_contact()

    async def _type_address(self, _: SentMessage) -> None:
        self._scene.act(self.who, f'types "{self._cast.address}"')
        await self._user.send_text(self._cast.address)


class SchoolStaff:
    """A staff member in the school's group chat who accepts or refuses the package."""

    who = "school"
    chat = "school chat"

    def __init__(self, scene: Scene, member: MemberHandle, cast: Cast, *, refuse: bool) -> None:
        self._scene, self._member, self._cast, self._refuse = scene, member, cast, refuse

    async def decide(self) -> None:
        """Read the package, then accept it, or refuse on ground 1 with a typed reason:
        first the preliminary decision, then, once the guardian's position came, the
        final one (the hearing, APPK art. 73)."""
        scene, chat_id = self._scene, self._member.chat_id
        package = {"staff.package": None}
        # The summary comes first, then the application PDF with the decision buttons.
        await scene.converse(chat_id, self.chat, package, until=["staff.package_caption"])
        if not self._refuse:
            await scene.press(self._member, self.who, scene.say("staff.accept_button"))
            await scene.converse(chat_id, self.chat, {}, until=["staff.accepted_done"])
            return
        await self._refuse_with_reason(None, until="staff.hearing_started")
        _, position = await scene.converse(chat_id, self.chat, {}, until=["staff.hearing_position"])
        await self._refuse_with_reason(position, until="staff.refused_done")

    async def _refuse_with_reason(self, on: SentMessage | None, *, until: str) -> None:
        scene = self._scene
        await scene.press(self._member, self.who, scene.say("staff.refuse_button"), on)
        ground = scene.say("staff.ground_button", ground=REFUSAL_GROUND)

        async def choose(message: SentMessage) -> None:
            await scene.press(self._member, self.who, ground, message)

        reactions: dict[str, Reaction] = {
            "staff.choose_ground": choose,
            "staff.ask_reason": self._give_reason,
            "staff.refusal_copy_caption": None,
        }
        await scene.converse(self._member.chat_id, self.chat, reactions, until=[until])

    async def _give_reason(self, question: SentMessage) -> None:
        reason = self._cast.refusal_reason
        self._scene.act(self.who, f'replies to the bot: "{reason}"')
        await self._member.reply_to(question, reason)


@dataclass(frozen=True)
class Ending:
    """How the story ended for the guardian."""

    case_id: str
    application: SentMessage
    result: SentMessage
    status: CaseStatus


async def play(
    scene: Scene,
    health: HealthSystem,
    guardian: Guardian,
    staff: SchoolStaff,
    signal: dict[str, Any],
) -> Ending:
    """Signal, then the guardian applies (and is heard) while the school decides."""
    case_id = await health.send_signal(signal)
    await guardian.open_bot()

    async def guardian_side() -> tuple[SentMessage, str, SentMessage]:
        application = await guardian.apply()
        return (application, *await guardian.await_result())

    (application, key, result), _ = await _together(guardian_side(), staff.decide())
    if result.document is None:
        raise DemoFailed("the guardian got the school's answer without its PDF")
    status = CaseStatus.ACCEPTED if key == "result.accepted" else CaseStatus.REFUSED
    return Ending(case_id, application, result, status)


async def _together(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Run two actors at once; the first failure stops the other.

    Not a TaskGroup: on Python 3.11 a child failing while the group waits in
    `__aexit__` leaves the parent task marked as cancelling for good.
    """
    one, other = asyncio.ensure_future(first), asyncio.ensure_future(second)
    tasks = (one, other)
    try:
        return await asyncio.gather(one, other)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
