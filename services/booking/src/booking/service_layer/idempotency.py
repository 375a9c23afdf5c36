"""Idempotency-Key: the same key and body replay the first answer; another body is refused; a retry while the first
call still runs is told so. Keys are scoped to the caller and kept 24 hours.

The key is claimed in its own short transaction *before* any work (and before the Redis lock, so a replay never
competes for the slot); the answer is stored by `complete` inside the business transaction itself, so a committed
booking and its stored answer can never disagree. A claim whose request died without an answer is taken over once
it is older than `STALE_AFTER`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from booking.domain.errors import IdempotencyInFlight, IdempotencyMismatch
from smartslot_common.db import Connection, fetch_one

STALE_AFTER_SECONDS = 60


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests 'the same request' for one key."""
    return hashlib.sha256(b"\n".join((method.encode(), path.encode(), body))).hexdigest()


@dataclass(frozen=True)
class Replay:
    """The stored answer of an earlier call with this key."""

    status: int
    body: Any


@dataclass(frozen=True)
class Claim:
    """A key this request now owns; `complete` stores the answer."""

    caller_id: uuid.UUID
    key: str


async def claim(pool: asyncpg.Pool, caller_id: uuid.UUID, key: str, request_fingerprint: str) -> Claim | Replay:
    """Own the key for this request, or get the earlier answer; mismatch and in-flight calls are refused."""
    async with pool.acquire() as connection, connection.transaction():
        inserted = await connection.fetchval(
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
            return Claim(caller_id, key)
        # The insert met this row, and ON CONFLICT DO UPDATE locks it even when it updates nothing: it is there.
        row = await fetch_one(
            connection,
            "SELECT request_fingerprint, state, response_status, response_body FROM idempotency_keys "
            "WHERE caller_id = $1 AND key = $2",
            caller_id, key,
        )
    if row["request_fingerprint"] != request_fingerprint:
        raise IdempotencyMismatch("This Idempotency-Key was used with a different request.")
    if row["state"] == "in_flight":
        raise IdempotencyInFlight("A request with this Idempotency-Key is still being processed.")
    return Replay(row["response_status"], row["response_body"])


async def complete(connection: Connection, held: Claim, status: int, body: Any) -> None:
    """Store the answer; call inside the transaction whose outcome it reports."""
    await connection.execute(
        "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_body = $4::jsonb "
        "WHERE caller_id = $1 AND key = $2",
        held.caller_id, held.key, status, orjson.loads(orjson.dumps(body, default=str)),
    )


async def release(pool: asyncpg.Pool, held: Claim) -> None:
    """Give the key back after a failure that answered nothing final (a fault), so a retry can run."""
    await pool.execute(
        "DELETE FROM idempotency_keys WHERE caller_id = $1 AND key = $2 AND state = 'in_flight'",
        held.caller_id, held.key,
    )
