"""Reads of booking's tables for search (through the replica): the documented read-only contract."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from availability.adapters.positions import position

# Slots with a free seat that have not started, of live providers; those the waitlist has first call on are
# included with `reserved_until` so that the answer can leave them out only while the reservation lasts.
_OPEN = """
SELECT s.id AS slot_id, s.provider_id, s.service_id, p.clinic_id, s.starts_at, s.ends_at, s.capacity,
       s.capacity - s.held - s.booked AS remaining, s.reserved_until
FROM booking.slots s
JOIN booking.providers p ON p.id = s.provider_id AND p.deleted_at IS NULL
WHERE s.status = 'open' AND s.held + s.booked < s.capacity AND s.starts_at > now()
"""
OPEN_SLOTS = _OPEN + """  AND s.service_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3
  AND ($4::uuid IS NULL OR s.provider_id = $4)
ORDER BY s.starts_at, s.provider_id, s.id
"""
OPEN_SLOTS_NAMED = _OPEN + "  AND s.id = ANY($1::uuid[])\n"


async def open_slots(
    pool: asyncpg.Pool, service_id: uuid.UUID, start: datetime, end: datetime, provider_id: uuid.UUID | None
) -> tuple[int, list[asyncpg.Record]]:
    """The WAL position the data is at least as new as, and the open slots starting in [start, end).

    The position is read first, in a statement of its own: the data's snapshot, taken after it, sees everything
    committed up to that position (a single statement could read a position replayed after its snapshot).
    """
    async with pool.acquire() as connection:
        lsn = await position(connection)
        rows = await connection.fetch(OPEN_SLOTS, service_id, start, end, provider_id)
    return lsn, rows


async def open_slots_named(pool: asyncpg.Pool, slot_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """Those of the named slots that are open now (a seat free, not started, a live provider), as `open_slots` gives
    them."""
    return await pool.fetch(OPEN_SLOTS_NAMED, slot_ids)


async def service_exists(pool: asyncpg.Pool, service_id: uuid.UUID) -> bool:
    """Whether the service exists and is not deleted."""
    return bool(await pool.fetchval(
        "SELECT 1 FROM booking.services WHERE id = $1 AND deleted_at IS NULL", service_id
    ))
