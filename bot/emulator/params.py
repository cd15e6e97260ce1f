"""Method parameters as aiogram sends them: form fields (strings, JSON strings) or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import BodyPartReader, MultipartReader, web

from bot.emulator.errors import ApiError, bad_request
from bot.emulator.limits import MAX_UPLOAD_BYTES


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


class Params:
    """Typed access to method parameters whatever the transport encoding was."""

    def __init__(self, values: Mapping[str, Any], files: Mapping[str, UploadedFile]) -> None:
        self.values = dict(values)
        self.files = dict(files)

    def has(self, name: str) -> bool:
        """Tell whether the parameter was sent."""
        return name in self.values or name in self.files

    def get_str(self, name: str) -> str | None:
        """Return a string parameter, or None when absent."""
        value = self.values.get(name)
        return None if value is None else str(value)

    def get_int(self, name: str) -> int | None:
        """Return an integer parameter, or None when absent; 400 if not a number."""
        value = self.values.get(name)
        if value is None or isinstance(value, int):
            return value
        try:
            return int(str(value))
        except ValueError as error:
            raise bad_request(f'field "{name}" must be a valid Number') from error

    def get_bool(self, name: str) -> bool:
        """Return a boolean parameter (absent means False)."""
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        return str(value).lower() in {"true", "1"}

    def get_json(self, name: str) -> Any:
        """Return a JSON-serialized parameter decoded, or None when absent."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as error:
            raise bad_request(f"can't parse {name} JSON object") from error

    def chat_id(self) -> int | str:
        """Return `chat_id` as int, or as `@username`; 400 when missing."""
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, int):
            return value
        text = str(value)
        return int(text) if text.lstrip("-").isdigit() else text

    def require_str(self, name: str, empty_reason: str) -> str:
        """Return a non-empty string parameter or raise 400 with `empty_reason`."""
        value = self.get_str(name)
        if not value:
            raise bad_request(empty_reason)
        return value

    def loggable(self) -> dict[str, Any]:
        """Return the values with file parts summarised, for the call log."""
        summary = {
            key: f"<file {upload.filename!r}, {len(upload.data)} bytes>"
            for key, upload in self.files.items()
        }
        return {**self.values, **summary}


class PartSource(Protocol):
    """A multipart body being read: a request's or a webhook response's."""

    async def next(self) -> MultipartReader | BodyPartReader | None:
        """Return the next part, or None at the end."""


async def read_multipart(reader: PartSource) -> Params:
    """Read every part of a multipart body into Params, enforcing the 50 MB upload limit."""
    values: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read(decode=True)
        total += len(data)
        if total > MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        if part.filename is not None:
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            files[part.name] = UploadedFile(part.filename, content_type, data)
        else:
            values[part.name] = data.decode(part.get_charset(default="utf-8"))
    return Params(values, files)


async def read_request(request: web.Request) -> Params:
    """Parse query string plus a JSON, urlencoded or multipart body."""
    query: dict[str, Any] = dict(request.query)
    if request.content_type.startswith("multipart/"):
        params = await read_multipart(await request.multipart())
        return Params({**query, **params.values}, params.files)
    if request.content_type == "application/json" and request.can_read_body:
        body = await request.json()
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        return Params({**query, **body}, {})
    if request.can_read_body:
        form = await request.post()
        return Params({**query, **{k: v for k, v in form.items() if isinstance(v, str)}}, {})
    return Params(query, {})
