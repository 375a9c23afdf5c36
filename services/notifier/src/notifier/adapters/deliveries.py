"""The `notifier.deliveries` table: the persistent queue of outbound emails and webhook calls.

A worker claims due rows in `FOR UPDATE SKIP LOCKED` batches by pushing `next_attempt_at` one lease ahead (database
clock) and counting the attempt; the row then stays `pending` until the outcome is recorded. A worker that dies
mid-send leaves the row to be claimed again when the lease ends, with the same Message-ID / webhook-id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from smartslot_common.db import Connection

CLAIM_DUE = """
WITH due AS (
    SELECT d.id, e.secret, coalesce(e.enabled, true) AS endpoint_enabled,
           CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous_secret
    FROM deliveries d LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
    ORDER BY d.next_attempt_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries d
SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2), updated_at = now()
FROM due WHERE d.id = due.id
RETURNING d.id, d.channel, d.kind, d.recipient, d.message_id, d.content, d.attempts, d.max_attempts,
          d.created_at, d.endpoint_id, due.secret, due.endpoint_enabled, due.previous_secret
"""
LOG_COLUMNS = ("id, kind AS event_type, status, attempts, max_attempts, last_response_code, last_error, "
               "next_attempt_at, created_at, updated_at, sent_at, message_id AS webhook_id, "
               "content->>'event_id' AS event_id")


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker now holds for one attempt."""

    id: uuid.UUID
    channel: str
    kind: str
    recipient: str
    message_id: str
    content: dict[str, Any]
    attempts: int
    max_attempts: int
    created_at: datetime
    endpoint_id: uuid.UUID | None
    secret: str | None
    endpoint_enabled: bool
    previous_secret: str | None = None  # a rotated-out secret still signing during its overlap


async def claim_due(pool: asyncpg.Pool, limit: int, lease_seconds: float) -> list[Claimed]:
    """Up to `limit` due deliveries nobody else holds, now held by the caller for one lease."""
    return [Claimed(**row) for row in await pool.fetch(CLAIM_DUE, limit, lease_seconds)]


async def mark_sent(connection: Connection, delivery_id: uuid.UUID, code: int | None) -> None:
    await connection.execute(
        "UPDATE deliveries SET status = 'sent', sent_at = now(), updated_at = now(), last_response_code = $2, "
        "last_error = NULL WHERE id = $1 AND status = 'pending'",
        delivery_id, code,
    )


async def mark_sent_many(pool: asyncpg.Pool, delivery_ids: list[uuid.UUID], codes: list[int | None]) -> None:
    """Mark these deliveries sent, each with its reply code, in one statement."""
    await pool.execute(
        "UPDATE deliveries d SET status = 'sent', sent_at = now(), updated_at = now(), "
        "last_response_code = sent.code, last_error = NULL "
        "FROM unnest($1::uuid[], $2::int[]) AS sent (id, code) WHERE d.id = sent.id AND d.status = 'pending'",
        delivery_ids, codes,
    )


async def retry_later(
    connection: Connection, delivery_id: uuid.UUID, delay: float, code: int | None, error: str | None
) -> None:
    await connection.execute(
        "UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => $2), updated_at = now(), "
        "last_response_code = $3, last_error = $4 WHERE id = $1 AND status = 'pending'",
        delivery_id, delay, code, error,
    )


async def mark_failed(
    connection: Connection, delivery_id: uuid.UUID, code: int | None, error: str | None
) -> None:
    await connection.execute(
        "UPDATE deliveries SET status = 'failed', updated_at = now(), last_response_code = $2, last_error = $3 "
        "WHERE id = $1 AND status = 'pending'",
        delivery_id, code, error,
    )


async def fail_pending_of_endpoint(connection: Connection, endpoint_id: uuid.UUID, reason: str) -> int:
    """Give up every pending delivery of a disabled endpoint."""
    status = await connection.execute(
        "UPDATE deliveries SET status = 'failed', updated_at = now(), last_error = $2 "
        "WHERE endpoint_id = $1 AND status = 'pending'",
        endpoint_id, reason,
    )
    return int(status.split()[-1])


async def backlog(pool: asyncpg.Pool) -> tuple[int, float]:
    """Pending deliveries, and how many seconds the one due first has been due (a claimed one is due again only when
    its lease ends; 0 when none is due): both from the `deliveries_due` index, in one statement."""
    row = await pool.fetchrow(
        "SELECT count(*) AS pending,"
        " coalesce(greatest(extract(epoch FROM now() - min(next_attempt_at)), 0), 0)::float8 AS overdue"
        " FROM deliveries WHERE status = 'pending'"
    )
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return int(row["pending"]), float(row["overdue"])


async def endpoint_log(
    pool: asyncpg.Pool, endpoint_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None,
    status: str | None,
) -> list[dict[str, Any]]:
    """One endpoint's deliveries, newest first (keyset pagination)."""
    conditions = ["endpoint_id = $1"]
    args: list[object] = [endpoint_id]
    if status:
        args.append(status)
        conditions.append(f"status = ${len(args)}")
    if after:
        args.extend(after)
        conditions.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    rows = await pool.fetch(
        f"SELECT {LOG_COLUMNS} FROM deliveries WHERE {' AND '.join(conditions)} "
        f"ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
        *args,
    )
    return [dict(row) for row in rows]
