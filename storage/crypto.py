"""Encryption of personal data at rest and keyed hashes to find it again.

IINs, names, phones, addresses and conclusion text are stored only as Fernet tokens.
Equality look-ups (guardian by phone, case by child IIN) use an HMAC "blind index":
deterministic, so it can be indexed, but useless without the key.

`DATA_KEY` may hold several comma-separated keys: the first encrypts, every key decrypts
(MultiFernet), and look-ups try the blind index of every key, so a rotation never makes
old rows unreachable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

_INDEX_CONTEXT = b"homeschool-bot/blind-index/v1"


class UndecryptableData(Exception):
    """Stored data was encrypted with a key that is no longer configured."""


class DataCipher:
    """Encrypts personal data and derives blind indexes from one or more Fernet keys."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one data key is required")
        raw = [key.strip().encode() for key in keys]
        self._fernet = MultiFernet([Fernet(key) for key in raw])
        self._index_keys = [hmac.new(key, _INDEX_CONTEXT, hashlib.sha256).digest() for key in raw]

    def encrypt_json(self, value: dict[str, Any]) -> bytes:
        """Encrypt a JSON-able mapping into one opaque token."""
        return self._fernet.encrypt(json.dumps(value, ensure_ascii=False).encode())

    def decrypt_json(self, token: bytes) -> dict[str, Any]:
        """Decrypt a token made by `encrypt_json` with any configured key."""
        try:
            result: dict[str, Any] = json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise UndecryptableData("personal data cannot be decrypted with DATA_KEY") from None
        return result

    def encrypt_text(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def decrypt_text(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            raise UndecryptableData("personal data cannot be decrypted with DATA_KEY") from None

    def encrypt_bytes(self, value: bytes) -> bytes:
        """Encrypt binary content (a generated PDF) into one opaque token."""
        return self._fernet.encrypt(value)

    def decrypt_bytes(self, token: bytes) -> bytes:
        """Decrypt a token made by `encrypt_bytes` with any configured key."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise UndecryptableData("personal data cannot be decrypted with DATA_KEY") from None

    def blind_index(self, value: str) -> str:
        """Return the look-up hash of `value` under the current (first) key."""
        return self.blind_indexes(value)[0]

    def blind_indexes(self, value: str) -> list[str]:
        """Return the look-up hash of `value` under every configured key, current first."""
        data = value.encode()
        return [hmac.new(key, data, hashlib.sha256).hexdigest() for key in self._index_keys]

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt a token under the current key (`homeschool-bot rekey`)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise UndecryptableData("personal data cannot be decrypted with DATA_KEY") from None


def load_or_create_key_file(folder: Path) -> str:
    """Return the key kept in `folder`, generating it on first use.

    This is the embedded default for a single machine: data stay encrypted at rest
    without any set-up, and the operator is warned to move the key into `DATA_KEY`.
    """
    path = folder / "data.key"
    if path.exists():
        return path.read_text().strip()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    log.warning(
        "DATA_KEY is not set: generated a data key in %s; back it up and set DATA_KEY "
        "in production, or the encrypted personal data is lost with that file",
        path,
    )
    return key
