"""The idempotency-keys repository: a key claimed per caller, its request's fingerprint, and its stored answer."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from smartslot_common.db import Connection, fetch_one

STALE_AFTER_SECONDS = 60


@dataclass(frozen=True)
class StoredKey:
    """A key some request already claimed: what it was for, and its answer once it has one."""

    request_fingerprint: str
    state: str  # 'in_flight' or 'done'
    response_status: int | None
    response_body: Any


class IdempotencyRepository(abc.ABC):
    """Idempotency keys (the port)."""

    @abc.abstractmethod
    async def claim(self, caller_id: uuid.UUID, key: str, request_fingerprint: str) -> StoredKey | None:
        """Own the key (None), taking over one expired or stale with the same request; otherwise the key as stored.
        Call inside a transaction: the stored key stays row-locked until it ends."""

    @abc.abstractmethod
    async def store_answer(self, caller_id: uuid.UUID, key: str, status: int, body: Any) -> None:
        """Store the answer of the key's request."""

    @abc.abstractmethod
    async def release(self, caller_id: uuid.UUID, key: str) -> None:
        """Forget a key still in flight, so a retry can run."""


class PostgresIdempotencyRepository(IdempotencyRepository):
    """Idempotency keys in PostgreSQL, kept 24 hours."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def claim(self, caller_id: uuid.UUID, key: str, request_fingerprint: str) -> StoredKey | None:
        inserted = await self._connection.fetchval(
            "INSERT INTO idempotency_keys (caller_id, key, request_fingerprint, state) "
            "VALUES ($1, $2, $3, 'in_flight') "
            "ON CONFLICT (caller_id, key) DO UPDATE SET request_fingerprint = EXCLUDED.request_fingerprint, "
            "created_at = now(), expires_at = now() + interval '24 hours' "
            "WHERE idempotency_keys.expires_at < now() "
            f"OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.created_at < now() - interval "
            f"'{STALE_AFTER_SECONDS} seconds' AND idempotency_keys.request_fingerprint = EXCLUDED.request_fingerprint) "
            "RETURNING true",
            caller_id, key, request_fingerprint,
        )
        if inserted:
            return None
        # The insert met this row, and ON CONFLICT DO UPDATE locks it even when it updates nothing: it is there.
        row = await fetch_one(
            self._connection,
            "SELECT request_fingerprint, state, response_status, response_body FROM idempotency_keys "
            "WHERE caller_id = $1 AND key = $2",
            caller_id, key,
        )
        return StoredKey(*row)

    async def store_answer(self, caller_id: uuid.UUID, key: str, status: int, body: Any) -> None:
        await self._connection.execute(
            "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_body = $4::jsonb "
            "WHERE caller_id = $1 AND key = $2",
            caller_id, key, status, orjson.loads(orjson.dumps(body, default=str)),
        )

    async def release(self, caller_id: uuid.UUID, key: str) -> None:
        await self._connection.execute(
            "DELETE FROM idempotency_keys WHERE caller_id = $1 AND key = $2 AND state = 'in_flight'", caller_id, key)
