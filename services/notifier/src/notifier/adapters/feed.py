"""The `notifier.notifications` table: the in-app feed."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from notifier.domain.messages import Message

COLUMNS = "id, kind, title, body, appointment_id, created_at, read_at"


async def add(connection: asyncpg.Connection, message: Message, event_id: uuid.UUID) -> None:
    """Record a notification once per event, recipient and kind."""
    await connection.execute(
        "INSERT INTO notifications (id, user_id, kind, title, body, appointment_id, event_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        uuid.uuid4(), uuid.UUID(message.user_id), message.kind, message.title, message.body,
        uuid.UUID(message.appointment_id) if message.appointment_id else None, event_id,
    )


async def page(pool: asyncpg.Pool, user_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        user_id, limit,
    )
    return [dict(row) for row in rows]


async def mark_read(pool: asyncpg.Pool, notification_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $1 AND user_id = $2 "
        f"RETURNING {COLUMNS}",
        notification_id, user_id,
    )
    return dict(row) if row else None
