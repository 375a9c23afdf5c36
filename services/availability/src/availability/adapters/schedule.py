"""Reads of booking's tables for a provider's day view (through the replica)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

SLOTS = """
SELECT id, provider_id, service_id, starts_at, ends_at, capacity, held, booked, status, version, origin,
       reserved_until
FROM booking.slots
WHERE provider_id = $1 AND starts_at >= $2 AND starts_at < $3 AND status <> 'deleted'
ORDER BY starts_at, id
"""
APPOINTMENTS = """
SELECT id, status, slot_id, provider_id, service_id, client_id, client_name, starts_at, ends_at, hold_expires_at,
       origin, assignment, fee_cents, currency, created_at, updated_at
FROM booking.appointments
WHERE provider_id = $1 AND starts_at >= $2 AND starts_at < $3
ORDER BY starts_at, id
"""


async def provider(pool: asyncpg.Pool, provider_id: uuid.UUID) -> asyncpg.Record | None:
    """The provider's owner, zone and deletion mark."""
    return await pool.fetchrow(
        "SELECT id, user_id, timezone, deleted_at FROM booking.providers WHERE id = $1", provider_id
    )


async def day(
    pool: asyncpg.Pool, provider_id: uuid.UUID, start: datetime, end: datetime
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """The provider's live slots and its appointments starting in [start, end), from one snapshot."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read", readonly=True):
        slots = await connection.fetch(SLOTS, provider_id, start, end)
        appointments = await connection.fetch(APPOINTMENTS, provider_id, start, end)
    return slots, appointments
