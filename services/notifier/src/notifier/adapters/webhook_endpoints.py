"""The `notifier.webhook_endpoints` table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from smartslot_common.db import Connection, fetch_one

# The secrets are never among the columns read back: a secret is shown once, when it is created.
COLUMNS = ("id, url, event_types, description, enabled, consecutive_failures, disabled_reason, disabled_at, "
           "created_at, updated_at, "
           "CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END "
           "AS previous_secret_expires_at")


async def create(
    pool: asyncpg.Pool, url: str, event_types: list[str], description: str | None, secret: str
) -> dict[str, Any]:
    row = await fetch_one(
        pool,
        "INSERT INTO webhook_endpoints (id, url, event_types, description, secret) VALUES ($1, $2, $3, $4, $5) "
        f"RETURNING {COLUMNS}",
        uuid.uuid4(), url, event_types, description, secret,
    )
    return dict(row)


async def get(pool: asyncpg.Pool, endpoint_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(f"SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1", endpoint_id)
    return dict(row) if row else None


async def page(pool: asyncpg.Pool, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[dict[str, Any]]:
    if after is None:
        rows = await pool.fetch(
            f"SELECT {COLUMNS} FROM webhook_endpoints ORDER BY created_at DESC, id DESC LIMIT $1", limit
        )
    else:
        rows = await pool.fetch(
            f"SELECT {COLUMNS} FROM webhook_endpoints WHERE (created_at, id) < ($1, $2) "
            "ORDER BY created_at DESC, id DESC LIMIT $3",
            after[0], after[1], limit,
        )
    return [dict(row) for row in rows]


async def update(pool: asyncpg.Pool, endpoint_id: uuid.UUID, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Change url, event_types, description or enabled; enabling again forgets past failures."""
    assignments, args = [], [endpoint_id]
    for column in ("url", "event_types", "description", "enabled"):
        if column in changes:
            args.append(changes[column])
            assignments.append(f"{column} = ${len(args)}")
    if changes.get("enabled") is True:
        assignments += ["consecutive_failures = 0", "disabled_reason = NULL", "disabled_at = NULL"]
    elif changes.get("enabled") is False:
        assignments += ["disabled_reason = 'disabled by an admin'", "disabled_at = now()"]
    assignments.append("updated_at = now()")
    row = await pool.fetchrow(
        f"UPDATE webhook_endpoints SET {', '.join(assignments)} WHERE id = $1 RETURNING {COLUMNS}", *args
    )
    return dict(row) if row else None


async def rotate_secret(
    pool: asyncpg.Pool, endpoint_id: uuid.UUID, secret: str, overlap_seconds: float
) -> dict[str, Any] | None:
    """Sign with `secret` from now on; the current secret keeps signing beside it for `overlap_seconds`."""
    row = await pool.fetchrow(
        "UPDATE webhook_endpoints SET previous_secret = CASE WHEN $3 > 0 THEN secret END, "
        "previous_secret_expires_at = CASE WHEN $3 > 0 THEN now() + make_interval(secs => $3) END, "
        f"secret = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        endpoint_id, secret, float(overlap_seconds),
    )
    return dict(row) if row else None


async def delete(pool: asyncpg.Pool, endpoint_id: uuid.UUID) -> bool:
    status = await pool.execute("DELETE FROM webhook_endpoints WHERE id = $1", endpoint_id)
    return status.endswith(" 1")


async def record_success(connection: Connection, endpoint_id: uuid.UUID) -> None:
    await connection.execute(
        "UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = $1 AND consecutive_failures <> 0",
        endpoint_id,
    )


async def record_failure(connection: Connection, endpoint_id: uuid.UUID) -> int:
    """Count one more failure in a row; the new count (0 if the endpoint is gone or already disabled)."""
    count = await connection.fetchval(
        "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, updated_at = now() "
        "WHERE id = $1 AND enabled RETURNING consecutive_failures",
        endpoint_id,
    )
    return count or 0


async def disable(connection: Connection, endpoint_id: uuid.UUID, reason: str) -> bool:
    """Disable an enabled endpoint; False if it already was."""
    status = await connection.execute(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now() "
        "WHERE id = $1 AND enabled",
        endpoint_id, reason,
    )
    return status.endswith(" 1")
