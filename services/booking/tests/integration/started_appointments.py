"""Confirmed appointments whose start has passed, for the calls that only make sense then (complete, no-show)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


async def book(api: Any, catalog: Any, who: Any, days: int = 2) -> dict[str, Any]:
    """A confirmed appointment of `who` on a fresh slot `days` ahead."""
    slot = await api.slot(catalog, api.future(days=days))
    held = await api.hold(slot["id"], who)
    assert held.status == 201, held.body
    reply = await api.call("POST", f"/v1/appointments/{held.body['id']}/confirm", who)
    assert reply.status == 200, reply.body
    return reply.body


async def started(db: asyncpg.Connection, appointment_id: object) -> None:
    """Move the appointment's start into the past (the API never makes a slot that has begun)."""
    await db.execute(
        "UPDATE appointments SET starts_at = clock_timestamp() - interval '10 minutes', "
        "ends_at = clock_timestamp() + interval '20 minutes' WHERE id = $1",
        uuid.UUID(str(appointment_id)),
    )


async def events_of(db: asyncpg.Connection, appointment_id: object) -> list[str]:
    """The appointment's events in the outbox, oldest first."""
    rows = await db.fetch(
        "SELECT event_type FROM outbox WHERE envelope->'payload'->>'appointment_id' = $1 ORDER BY created_at, seq",
        str(appointment_id),
    )
    return [row["event_type"] for row in rows]
