"""Re-encrypt every stored personal datum under the first DATA_KEY key.

Rotation is two steps: put the new key first (`DATA_KEY=new,old`), which makes new
writes use it while old data stay readable; then run `homeschool-bot rekey`, after which
nothing needs the old key and it can be removed. Blind indexes are recomputed too,
because look-ups only try the hashes of configured keys. Each batch is its own
transaction and a row changed meanwhile is left as the service wrote it, so the command
is safe to run while the service runs, and to run again after an interruption.
With REDIS_URL the dialogs in progress live in Redis; their data are rewritten the same
way, key by key.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from bot.runtime import Services
from storage.crypto import DataCipher, UndecryptableData
from storage.fsm import fsm_key_builder
from storage.repositories.rekey import (
    EncryptedTable,
    encrypted_tables,
    list_encrypted_rows,
    replace_if_unchanged,
)

log = logging.getLogger(__name__)

BATCH = 200
REDIS_DIALOGS = "redis:fsm data"

IndexRule = Callable[[DataCipher, Mapping[str, Any]], dict[str, str | None]]


def _guardian_indexes(cipher: DataCipher, pd: Mapping[str, Any]) -> dict[str, str | None]:
    iin = pd.get("iin")
    return {"phone_hash": cipher.blind_index(pd["phone"]), "iin_hash": _index(cipher, iin)}


def _case_indexes(cipher: DataCipher, pd: Mapping[str, Any]) -> dict[str, str | None]:
    return {"child_iin_hash": _index(cipher, pd["child"]["iin"])}


def _staff_indexes(cipher: DataCipher, pd: Mapping[str, Any]) -> dict[str, str | None]:
    return {"phone_hash": cipher.blind_index(pd["phone"])}


def _index(cipher: DataCipher, value: str | None) -> str | None:
    return cipher.blind_index(value) if value else None


# Which blind indexes are derived from which decrypted column (see bot.usecases.intake).
BLIND_INDEXES: dict[tuple[str, str], IndexRule] = {
    ("guardians", "pd_enc"): _guardian_indexes,
    ("cases", "pd_enc"): _case_indexes,
    ("staff_accounts", "pd_enc"): _staff_indexes,
}


@dataclass
class RekeyReport:
    """What the run did, per table."""

    rewritten: Counter[str] = field(default_factory=Counter)
    changed_meanwhile: Counter[str] = field(default_factory=Counter)
    undecryptable: Counter[str] = field(default_factory=Counter)


async def rekey_personal_data(svc: Services, batch: int = BATCH) -> RekeyReport:
    """Rewrite every encrypted value and blind index under the current (first) key."""
    report = RekeyReport()
    for source in encrypted_tables():
        after: Any = None
        while True:
            async with svc.sessions.begin() as session:
                rows = await list_encrypted_rows(session, source, after, batch)
                for row in rows:
                    old = {name: row[name] for name in source.columns if row[name] is not None}
                    new = _rotated(svc.cipher, source, old)
                    if new is None:
                        report.undecryptable[source.name] += 1
                    elif not old:
                        continue
                    elif await replace_if_unchanged(
                        session, source, row[source.key.name], old, new
                    ):
                        report.rewritten[source.name] += 1
                    else:
                        report.changed_meanwhile[source.name] += 1
            if len(rows) < batch:
                break
            after = rows[-1][source.key.name]
    if svc.settings.REDIS_URL:
        await _rekey_redis_dialogs(svc.settings.REDIS_URL, svc.cipher, report)
    log.info(
        "rekey: %d rows rewritten, %d changed meanwhile, %d undecryptable",
        report.rewritten.total(),
        report.changed_meanwhile.total(),
        report.undecryptable.total(),
    )
    return report


def _rotated(
    cipher: DataCipher, source: EncryptedTable, old: Mapping[str, bytes]
) -> dict[str, Any] | None:
    """The row's new tokens and recomputed indexes, or None if a token needs a lost key."""
    new: dict[str, Any] = {}
    try:
        for name, token in old.items():
            new[name] = cipher.rotate(token)
            rule = BLIND_INDEXES.get((source.name, name))
            if rule is not None:
                new.update(rule(cipher, cipher.decrypt_json(token)))
    except UndecryptableData:
        return None
    return new


async def _rekey_redis_dialogs(url: str, cipher: DataCipher, report: RekeyReport) -> None:
    """Rotate the encrypted data of every dialog in Redis (aiogram's `…:data` keys).

    WATCH makes each rewrite conditional, like `replace_if_unchanged` in SQL: a dialog
    that moved on meanwhile was already saved under the current key.
    """
    client: Redis = Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=f"{fsm_key_builder().prefix}:*:data"):
            async with client.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                token = await pipe.get(key)
                if token is None:
                    continue
                try:
                    rotated = cipher.rotate(token if isinstance(token, bytes) else token.encode())
                except UndecryptableData:
                    report.undecryptable[REDIS_DIALOGS] += 1
                    continue
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(key, rotated, keepttl=True)
                try:
                    await pipe.execute()
                except WatchError:
                    report.changed_meanwhile[REDIS_DIALOGS] += 1
                else:
                    report.rewritten[REDIS_DIALOGS] += 1
    finally:
        await client.aclose()
