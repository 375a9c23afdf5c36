"""The `notifier.reminders` table: one row per reminder, turned into a delivery when due (database clock)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.domain.reminders import PlannedReminder
from smartslot_common.db import Connection


@dataclass(frozen=True)
class DueReminder:
    id: uuid.UUID
    appointment_id: uuid.UUID
    offset_seconds: int
    due_at: datetime
    appointment: dict[str, Any]
    lag_seconds: float


async def schedule(
    connection: Connection, appointment_id: uuid.UUID, user_id: uuid.UUID, starts_at: datetime,
    planned: list[PlannedReminder], appointment: dict[str, Any],
) -> int:
    """Store the planned reminders still ahead by the database clock, in one statement (one live row per offset);
    how many were stored."""
    status = await connection.execute(
        "INSERT INTO reminders (id, appointment_id, user_id, offset_seconds, starts_at, due_at, appointment) "
        "SELECT gen_random_uuid(), $1, $2, planned.offset_seconds, $3, planned.due_at, $4 "
        "FROM unnest($5::int[], $6::timestamptz[]) AS planned (offset_seconds, due_at) "
        "WHERE planned.due_at > now() ON CONFLICT DO NOTHING",
        appointment_id, user_id, starts_at, appointment,
        [item.offset_seconds for item in planned], [item.due_at for item in planned],
    )
    return int(status.split()[-1])


async def cancel(connection: Connection, appointment_id: uuid.UUID) -> int:
    """Cancel the appointment's reminders that have not gone out yet."""
    status = await connection.execute(
        "UPDATE reminders SET status = 'cancelled', updated_at = now() "
        "WHERE appointment_id = $1 AND status = 'scheduled'",
        appointment_id,
    )
    return int(status.split()[-1])


async def take_due(connection: Connection, limit: int) -> list[DueReminder]:
    """Mark up to `limit` due reminders sent and return them; call inside the transaction that queues them.

    A reminder whose appointment has already started (the notifier was down meanwhile) is marked `missed` instead.
    """
    await connection.execute(
        "UPDATE reminders SET status = 'missed', updated_at = now() "
        "WHERE id IN (SELECT id FROM reminders WHERE status = 'scheduled' AND due_at <= now() AND starts_at <= now() "
        "             FOR UPDATE SKIP LOCKED)"
    )
    rows = await connection.fetch(
        "WITH due AS (SELECT id FROM reminders WHERE status = 'scheduled' AND due_at <= now() "
        "             ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
        "UPDATE reminders r SET status = 'sent', sent_at = now(), updated_at = now() FROM due WHERE r.id = due.id "
        "RETURNING r.id, r.appointment_id, r.offset_seconds, r.due_at, r.appointment, "
        "          extract(epoch FROM now() - r.due_at)::float8 AS lag_seconds",
        limit,
    )
    return [DueReminder(**row) for row in rows]
