"""Entries in PostgreSQL: joining, reading with queue positions, and status changes by compare-and-set."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from smartslot_common.db import Connection, ConnectionOrPool, fetch_one, fetch_optional, fetch_value
from waitlist.domain.model import LIVE_ENTRY, WAITING, Wish

ENTRY_COLUMNS = (
    "id, client_id, service_id, provider_id, slot_id, window_from, window_to, priority, status, "
    "client_email, client_name, created_at, updated_at"
)
# Rank among waiting entries with the same target, in queue order (priority, then join time, then id).
POSITION = """
CASE WHEN e.status = 'waiting' THEN 1 + (
    SELECT count(*) FROM entries o
    WHERE o.status = 'waiting' AND o.service_id = e.service_id
      AND o.provider_id IS NOT DISTINCT FROM e.provider_id AND o.slot_id IS NOT DISTINCT FROM e.slot_id
      AND (o.priority > e.priority
           OR (o.priority = e.priority AND (o.created_at, o.id) < (e.created_at, e.id)))
) END
"""
# The entry's latest offer that reached the client (a refused request never did).
LATEST_OFFER = """
LEFT JOIN LATERAL (
    SELECT id AS offer_id, status AS offer_status, slot_id AS offer_slot_id, appointment_id AS offer_appointment_id,
           deadline AS offer_expires_at
    FROM offers WHERE entry_id = e.id AND status IN ('pending', 'accepted', 'expired')
    ORDER BY offered_at DESC LIMIT 1
) latest ON true
"""


async def lock_client(connection: Connection, client_id: uuid.UUID) -> None:
    """Serialise one client's joins, so two at once cannot both pass the cap."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"waitlist.client:{client_id}")


async def count_live(connection: Connection, client_id: uuid.UUID) -> int:
    return await fetch_value(
        connection, int, "SELECT count(*) FROM entries WHERE client_id = $1 AND status = ANY($2::text[])",
        client_id, list(LIVE_ENTRY),
    )


async def live_duplicate(connection: Connection, client_id: uuid.UUID, wish: Wish) -> uuid.UUID | None:
    """The client's live entry with exactly this wish, if any."""
    return await fetch_optional(
        connection, uuid.UUID,
        "SELECT id FROM entries WHERE client_id = $1 AND status = ANY($7::text[]) AND service_id = $2 "
        "AND provider_id IS NOT DISTINCT FROM $3 AND slot_id IS NOT DISTINCT FROM $4 "
        "AND window_from IS NOT DISTINCT FROM $5 AND window_to IS NOT DISTINCT FROM $6",
        client_id, wish.service_id, wish.provider_id, wish.slot_id, wish.window_from, wish.window_to,
        list(LIVE_ENTRY),
    )


async def insert(
    connection: Connection, client_id: uuid.UUID, wish: Wish, email: str | None, name: str | None
) -> asyncpg.Record:
    """A new waiting entry (join time on the database clock); `UniqueViolationError` for a live duplicate."""
    return await fetch_one(
        connection,
        "INSERT INTO entries (id, client_id, service_id, provider_id, slot_id, window_from, window_to, client_email, "
        "client_name, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp(), clock_timestamp()) "
        f"RETURNING {ENTRY_COLUMNS}",
        uuid.uuid4(), client_id, wish.service_id, wish.provider_id, wish.slot_id, wish.window_from, wish.window_to,
        email, name,
    )


async def lock(connection: Connection, entry_id: uuid.UUID) -> asyncpg.Record | None:
    return await connection.fetchrow(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id = $1 FOR UPDATE", entry_id)


async def view(connection: ConnectionOrPool, entry_id: uuid.UUID) -> asyncpg.Record | None:
    """One entry as the API shows it: with its position and latest offer."""
    return await connection.fetchrow(
        f"SELECT {_prefixed()}, {POSITION} AS position, latest.* FROM entries e {LATEST_OFFER} WHERE e.id = $1",
        entry_id,
    )


async def page(
    connection: ConnectionOrPool, client_id: uuid.UUID | None, status: str | None,
    after: tuple[datetime, uuid.UUID] | None, limit: int,
) -> list[asyncpg.Record]:
    """Up to `limit` entries in join order (a client's own, or everyone's), after the cursor."""
    after_at, after_id = after if after else (None, None)
    return await connection.fetch(
        f"SELECT {_prefixed()}, {POSITION} AS position, latest.* FROM entries e {LATEST_OFFER} "
        "WHERE ($1::uuid IS NULL OR e.client_id = $1) AND ($2::text IS NULL OR e.status = $2) "
        "AND ($3::timestamptz IS NULL OR (e.created_at, e.id) > ($3, $4)) "
        "ORDER BY e.created_at, e.id LIMIT $5",
        client_id, status, after_at, after_id, limit,
    )


async def move(
    connection: Connection, entry_id: uuid.UUID, sources: tuple[str, ...], target: str
) -> bool:
    """Compare-and-set the entry's status from one of `sources`; False when it was in none of them."""
    moved = await connection.fetchval(
        "UPDATE entries SET status = $3, updated_at = clock_timestamp() WHERE id = $1 AND status = ANY($2::text[]) "
        "RETURNING true",
        entry_id, list(sources), target,
    )
    return bool(moved)


async def touch_waiting(connection: Connection, entry_id: uuid.UUID) -> bool:
    """Lock a still-waiting entry for the caller's transaction (a concurrent leave waits); False if not waiting."""
    return bool(await connection.fetchval(
        "UPDATE entries SET updated_at = clock_timestamp() WHERE id = $1 AND status = $2 RETURNING true",
        entry_id, WAITING,
    ))


async def has_live_offer(connection: Connection, entry_id: uuid.UUID) -> bool:
    return bool(await connection.fetchval(
        "SELECT true FROM offers WHERE entry_id = $1 AND status IN ('requesting', 'pending')", entry_id
    ))


async def expire_past_windows(connection: Connection) -> int:
    """Waiting entries whose window is over can never match again: `expired`."""
    result = await connection.execute(
        "UPDATE entries e SET status = 'expired', updated_at = clock_timestamp() "
        "WHERE e.status = 'waiting' AND e.window_to <= clock_timestamp() "
        "AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.entry_id = e.id AND o.status IN ('requesting', 'pending'))"
    )
    return int(result.split()[-1])


def _prefixed() -> str:
    return ", ".join(f"e.{column.strip()}" for column in ENTRY_COLUMNS.split(","))
