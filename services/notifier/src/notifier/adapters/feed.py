"""The `notifier.notifications` table: the in-app feed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from notifier.domain.messages import Message
from smartslot_common.db import Connection

COLUMNS = "id, kind, title, body, appointment_id, created_at, read_at"


# The live stream hears of a new notification from the same statement that writes it: PostgreSQL delivers the
# notice when (and only if) the transaction commits, to every notifier process listening; no extra round trip.
# Texts are cut to keep the notice under PostgreSQL's 8000-byte limit (the feed keeps them whole).
CHANNEL = "smartslot_feed"
# The notice of one row of `{COLUMNS}, user_id` (also used by event_rows, which writes feed rows with an event's
# other rows in one statement).
NOTICE = f"""pg_notify('{CHANNEL}', json_build_object(
    'id', id, 'user_id', user_id, 'kind', kind, 'title', left(title, 500), 'body', left(body, 3000),
    'appointment_id', appointment_id, 'created_at', created_at, 'read_at', read_at)::text)"""
ADD = f"""
WITH added AS (
    INSERT INTO notifications (id, user_id, kind, title, body, appointment_id, event_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
    RETURNING {COLUMNS}, user_id
)
SELECT {NOTICE}
FROM added
"""


async def add(connection: Connection, message: Message, source_id: uuid.UUID) -> None:
    """Record a notification once per source (event or reminder), recipient and kind; the live stream hears of it
    at commit."""
    await connection.execute(
        ADD, uuid.uuid4(), uuid.UUID(message.user_id), message.kind, message.title, message.body,
        uuid.UUID(message.appointment_id) if message.appointment_id else None, source_id,
    )


async def since(
    pool: asyncpg.Pool, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID], limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` notifications of one user after the feed position `after`, oldest first (a stream resuming)."""
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND (created_at, id) > ($2, $3) "
        "ORDER BY created_at, id LIMIT $4",
        user_id, after[0], after[1], limit,
    )
    return [dict(row) for row in rows]


async def page(
    pool: asyncpg.Pool, user_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None = None
) -> list[dict[str, Any]]:
    """Up to `limit` notifications of one user, newest first, after the keyset position `after`."""
    if after is None:
        rows = await pool.fetch(
            f"SELECT {COLUMNS} FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            user_id, limit,
        )
    else:
        rows = await pool.fetch(
            f"SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND (created_at, id) < ($2, $3) "
            "ORDER BY created_at DESC, id DESC LIMIT $4",
            user_id, after[0], after[1], limit,
        )
    return [dict(row) for row in rows]


async def mark_read(pool: asyncpg.Pool, notification_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any] | None:
    """Mark one of the user's notifications read (the first time counts); None when it is not theirs."""
    row = await pool.fetchrow(
        "UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $1 AND user_id = $2 "
        f"RETURNING {COLUMNS}",
        notification_id, user_id,
    )
    return dict(row) if row else None
