"""Bot API methods about the bot itself: identity, commands, polling and webhooks."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

from bot.emulator.entities import JsonDict
from bot.emulator.errors import bad_request, conflict
from bot.emulator.params import Params
from bot.emulator.state import DEFAULT_UPDATE_TYPES, EmulatorState, MethodHandler, WebhookConfig

MAX_COMMANDS: Final = 100
_COMMAND_RE: Final = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
WEBHOOK_ACTIVE: Final = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
TERMINATED: Final = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)


async def get_me(state: EmulatorState, p: Params) -> JsonDict:
    """getMe: the bot's User object with bot capability flags."""
    return {
        **state.bot.to_json(),
        "can_join_groups": True,
        "can_read_all_group_messages": not state.group_privacy,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def commands_key(scope: Any, language_code: str | None) -> tuple[str, str]:
    """Return the storage key for a BotCommandScope object and language code."""
    scope = scope if isinstance(scope, dict) else {"type": "default"}
    parts = [str(scope.get("type", "default"))]
    parts += [str(scope[k]) for k in ("chat_id", "user_id") if k in scope]
    return ":".join(parts), language_code or ""


def _check_commands(commands: Any) -> list[JsonDict]:
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    for command in commands:
        if not isinstance(command, dict) or not _COMMAND_RE.fullmatch(str(command.get("command"))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description") or "")) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    return [{"command": c["command"], "description": c["description"]} for c in commands]


async def set_my_commands(state: EmulatorState, p: Params) -> bool:
    """setMyCommands: store the list for (scope, language_code); an empty list deletes it."""
    commands = _check_commands(p.get_json("commands") or [])
    key = commands_key(p.get_json("scope"), p.get_str("language_code"))
    if commands:
        state.commands[key] = commands
    else:
        state.commands.pop(key, None)
    return True


async def get_my_commands(state: EmulatorState, p: Params) -> list[JsonDict]:
    """getMyCommands: exactly the list stored for (scope, language_code)."""
    key = commands_key(p.get_json("scope"), p.get_str("language_code"))
    return list(state.commands.get(key, []))


async def delete_my_commands(state: EmulatorState, p: Params) -> bool:
    """deleteMyCommands: forget the list for (scope, language_code)."""
    state.commands.pop(commands_key(p.get_json("scope"), p.get_str("language_code")), None)
    return True


def _set_allowed(state: EmulatorState, p: Params) -> None:
    allowed = p.get_json("allowed_updates")
    if allowed is not None:
        if not isinstance(allowed, list):
            raise bad_request("can't parse allowed_updates JSON object")
        state.updates.set_allowed(str(kind) for kind in allowed)


async def get_updates(state: EmulatorState, p: Params) -> list[JsonDict]:
    """getUpdates: confirm below offset, then long-poll until updates arrive or timeout."""
    if state.webhook is not None:
        raise conflict(WEBHOOK_ACTIVE)
    offset = p.get_int("offset")
    if offset:
        state.updates.confirm(offset)
    _set_allowed(state, p)
    limit = min(max(p.get_int("limit") or 100, 1), 100)
    timeout = max(p.get_int("timeout") or 0, 0)
    state.poll_generation += 1
    mine = state.poll_generation
    await state.notify()

    def done() -> bool:
        stop = state.closing or state.webhook is not None or state.poll_generation != mine
        return stop or bool(state.updates.pending)

    if timeout and not done():
        async with state.changed:
            try:
                async with asyncio.timeout(timeout):
                    await state.changed.wait_for(done)
            except TimeoutError:
                pass
    if state.poll_generation != mine:
        raise conflict(TERMINATED)
    return list(state.updates.pending[:limit])


async def set_webhook(state: EmulatorState, p: Params) -> bool:
    """setWebhook: switch to push delivery (an empty url removes the webhook)."""
    url = p.get_str("url") or ""
    if not url:
        return await delete_webhook(state, p)
    scheme = url.split("://", 1)[0].lower()
    if scheme != "https" and not (scheme == "http" and state.allow_http_webhook):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = p.get_str("secret_token")
    if secret is not None and not _SECRET_RE.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    _set_allowed(state, p)
    if p.get_bool("drop_pending_updates"):
        state.updates.pending.clear()
    state.webhook = WebhookConfig(url, secret, p.get_int("max_connections") or 40)
    await state.notify()
    return True


async def delete_webhook(state: EmulatorState, p: Params) -> bool:
    """deleteWebhook: back to getUpdates, optionally dropping pending updates."""
    if p.get_bool("drop_pending_updates"):
        state.updates.pending.clear()
    state.webhook = None
    await state.notify()
    return True


async def get_webhook_info(state: EmulatorState, p: Params) -> JsonDict:
    """getWebhookInfo: url, pending count and the last delivery error."""
    info: JsonDict = {
        "url": state.webhook.url if state.webhook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates.pending),
    }
    hook = state.webhook
    if hook is not None:
        info["max_connections"] = hook.max_connections
        if state.updates.allowed != DEFAULT_UPDATE_TYPES:
            info["allowed_updates"] = sorted(state.updates.allowed)
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
    return info


METHODS: dict[str, MethodHandler] = {
    "getMe": get_me,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
}
