"""Freed seats in PostgreSQL, and the per-slot lock every decision about a slot takes first.

Work on one slot is serialised by a transaction-scoped advisory lock taken before any row lock, so event handlers,
senders and the sweeper never deadlock on each other.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from smartslot_common.db import Connection, fetch_value

SEAT_COLUMNS = (
    "id, released_appointment_id, slot_id, service_id, provider_id, starts_at, ends_at, released_by, released_at, "
    "status, outcome"
)


def _slot_lock_key(slot_id: uuid.UUID) -> str:
    return f"waitlist.slot:{slot_id}"


async def lock_slot(connection: Connection, slot_id: uuid.UUID) -> None:
    """Serialise every decision about one slot until the caller's transaction ends."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _slot_lock_key(slot_id))


async def try_lock_slot(connection: Connection, slot_id: uuid.UUID) -> bool:
    """`lock_slot` if nobody holds it now (the sweeper, which already holds row locks, must never wait)."""
    return await fetch_value(
        connection, bool, "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", _slot_lock_key(slot_id)
    )


async def remember_context(connection: Connection, slot_id: uuid.UUID, service_id: uuid.UUID,
                           fields: dict[str, str | None]) -> None:
    """Keep a slot's names and zone, only while someone waits for its service (nothing else would read them)."""
    await connection.execute(
        "INSERT INTO slot_context (slot_id, timezone, service_name, provider_name, clinic_name) "
        "SELECT $1, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM entries WHERE service_id = $2 AND status = 'waiting') "
        "ON CONFLICT (slot_id) DO UPDATE SET timezone = coalesce(EXCLUDED.timezone, slot_context.timezone), "
        "service_name = coalesce(EXCLUDED.service_name, slot_context.service_name), "
        "provider_name = coalesce(EXCLUDED.provider_name, slot_context.provider_name), "
        "clinic_name = coalesce(EXCLUDED.clinic_name, slot_context.clinic_name), updated_at = now()",
        slot_id, service_id, fields.get("timezone"), fields.get("service_name"), fields.get("provider_name"),
        fields.get("clinic_name"),
    )


async def insert_seat(connection: Connection, values: dict[str, Any]) -> asyncpg.Record | None:
    """A freed seat; None when this release was recorded already."""
    return await connection.fetchrow(
        "INSERT INTO seats (id, released_appointment_id, slot_id, service_id, provider_id, starts_at, ends_at, "
        "released_by, released_at, status, outcome, lease_until) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
        "CASE WHEN $12::float8 IS NULL THEN NULL ELSE clock_timestamp() + $12::float8 * interval '1 second' END) "
        f"ON CONFLICT (id) DO NOTHING RETURNING {SEAT_COLUMNS}",
        values["id"], values.get("released_appointment_id"), values["slot_id"], values["service_id"],
        values["provider_id"], values["starts_at"], values["ends_at"], values["released_by"], values["released_at"],
        values["status"], values.get("outcome"), values.get("lease_seconds"),
    )


async def seat(connection: Connection, seat_id: uuid.UUID) -> asyncpg.Record | None:
    return await connection.fetchrow(f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = $1 FOR UPDATE", seat_id)


async def other_open_seats(connection: Connection, slot_id: uuid.UUID, seat_id: uuid.UUID) -> int:
    return await fetch_value(
        connection, int,
        "SELECT count(*) FROM seats WHERE slot_id = $1 AND id <> $2 AND status IN ('deferred', 'offering')",
        slot_id, seat_id,
    )


async def set_seat(
    connection: Connection, seat_id: uuid.UUID, status: str, outcome: str | None = None,
    lease_seconds: float | None = None,
) -> None:
    await connection.execute(
        "UPDATE seats SET status = $2, outcome = coalesce($3, outcome), updated_at = clock_timestamp(), "
        "lease_until = CASE WHEN $4::float8 IS NULL THEN NULL "
        "ELSE clock_timestamp() + $4::float8 * interval '1 second' END WHERE id = $1",
        seat_id, status, outcome, lease_seconds,
    )


async def deferred_seats(connection: Connection, slot_id: uuid.UUID | None, limit: int) -> list[asyncpg.Record]:
    """Deferred seats (of one slot, or any) whose slot has no hold request in flight any more."""
    return await connection.fetch(
        f"SELECT {SEAT_COLUMNS} FROM seats s WHERE status = 'deferred' AND ($1::uuid IS NULL OR slot_id = $1) "
        "AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.slot_id = s.slot_id AND o.status = 'requesting') "
        "ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        slot_id, limit,
    )


async def claim_stale_returns(
    connection: Connection, lease_seconds: float, limit: int
) -> list[asyncpg.Record]:
    """Seats whose hand-back was never confirmed (a crash, booking down): taken over for another try."""
    return await connection.fetch(
        "UPDATE seats SET lease_until = clock_timestamp() + $1::float8 * interval '1 second' WHERE id IN ("
        " SELECT id FROM seats WHERE status = 'returning' AND lease_until <= clock_timestamp()"
        " ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id, slot_id",
        lease_seconds, limit,
    )


async def seat_returned(connection: Connection, seat_id: uuid.UUID) -> None:
    await connection.execute(
        "UPDATE seats SET status = 'done', lease_until = NULL, updated_at = clock_timestamp() "
        "WHERE id = $1 AND status = 'returning'",
        seat_id,
    )
