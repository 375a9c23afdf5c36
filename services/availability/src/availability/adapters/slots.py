"""Reads of booking's tables (through the replica): the documented read-only contract."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

OPEN_SLOTS = """
SELECT s.id AS slot_id, s.provider_id, s.service_id, s.starts_at, s.ends_at, s.capacity,
       s.capacity - s.held - s.booked AS remaining
FROM booking.slots s
JOIN booking.providers p ON p.id = s.provider_id AND p.deleted_at IS NULL
WHERE s.service_id = $1 AND s.status = 'open' AND s.held + s.booked < s.capacity
  AND s.starts_at >= $2 AND s.starts_at < $3 AND s.starts_at > now()
  AND ($4::uuid IS NULL OR s.provider_id = $4) AND ($5::uuid IS NULL OR p.clinic_id = $5)
ORDER BY s.starts_at, s.provider_id
"""


async def open_slots(
    pool: asyncpg.Pool, service_id: uuid.UUID, start: datetime, end: datetime,
    provider_id: uuid.UUID | None, clinic_id: uuid.UUID | None,
) -> list[dict[str, Any]]:
    """Slots with a free seat that start in the future, ordered by start."""
    rows = await pool.fetch(OPEN_SLOTS, service_id, start, end, provider_id, clinic_id)
    return [dict(row) for row in rows]


async def service_exists(pool: asyncpg.Pool, service_id: uuid.UUID) -> bool:
    return bool(await pool.fetchval(
        "SELECT 1 FROM booking.services WHERE id = $1 AND deleted_at IS NULL", service_id
    ))
