"""Booking's tables, through asyncpg with positional parameters. Every write to a slot is a compare-and-set on
its `version`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from booking.domain.slot import Slot

SLOT_COLUMNS = "id, provider_id, service_id, starts_at, ends_at, capacity, held, booked, status, version"
APPOINTMENT_COLUMNS = (
    "id, status, slot_id, provider_id, service_id, client_id, starts_at, ends_at, hold_expires_at, origin, "
    "assignment, fee_cents, currency, created_at, updated_at, client_email, client_name, ics_sequence"
)
APPOINTMENT_CONTEXT = """
SELECT p.timezone, p.display_name AS provider_name, p.user_id AS provider_user_id, s.name AS service_name,
       s.price_cents, s.currency, c.name AS clinic_name, c.address AS clinic_address
FROM providers p JOIN clinics c ON c.id = p.clinic_id, services s
WHERE p.id = $1 AND s.id = $2
"""


async def database_now(connection: asyncpg.Connection) -> datetime:
    """The database clock: the one clock every deadline uses."""
    return await connection.fetchval("SELECT clock_timestamp()")


async def appointment_context(
    connection: asyncpg.Connection, provider_id: uuid.UUID, service_id: uuid.UUID
) -> dict[str, Any]:
    """What an appointment's events tell consumers besides the appointment: zone, names, place, price."""
    row = await connection.fetchrow(APPOINTMENT_CONTEXT, provider_id, service_id)
    return dict(row) if row else {}


async def get_slot(connection: asyncpg.Connection, slot_id: uuid.UUID) -> Slot | None:
    row = await connection.fetchrow(f"SELECT {SLOT_COLUMNS} FROM slots WHERE id = $1", slot_id)
    return Slot(**dict(row)) if row else None


async def take_seat(connection: asyncpg.Connection, slot: Slot, counter: str) -> bool:
    """Compare-and-set: count one more `held` or `booked` seat if the slot is unchanged since it was read."""
    assert counter in ("held", "booked")
    status = await connection.execute(
        f"UPDATE slots SET {counter} = {counter} + 1, version = version + 1, updated_at = now() "
        "WHERE id = $1 AND version = $2 AND status = 'open' AND held + booked < capacity",
        slot.id,
        slot.version,
    )
    return status == "UPDATE 1"


async def insert_appointment(connection: asyncpg.Connection, values: dict[str, Any]) -> asyncpg.Record:
    columns = ", ".join(values)
    placeholders = ", ".join(f"${index}" for index in range(1, len(values) + 1))
    return await connection.fetchrow(
        f"INSERT INTO appointments ({columns}) VALUES ({placeholders}) RETURNING {APPOINTMENT_COLUMNS}",
        *values.values(),
    )


async def record_transition(
    connection: asyncpg.Connection, appointment_id: uuid.UUID, from_status: str | None, to_status: str,
    actor_id: uuid.UUID | None, actor_role: str | None, reason: str | None,
) -> None:
    await connection.execute(
        "INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        appointment_id, from_status, to_status, actor_id, actor_role, reason,
    )


async def record_first_transitions(
    connection: asyncpg.Connection, appointment_id: uuid.UUID, steps: list[tuple[str | None, str]],
    actor_id: uuid.UUID | None, actor_role: str | None, reason: str | None,
) -> None:
    """The audit rows of a new appointment that passes through several statuses at once (one statement)."""
    await connection.executemany(
        "INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [(appointment_id, before, after, actor_id, actor_role, reason) for before, after in steps],
    )


async def get_appointment(
    connection: asyncpg.Connection | asyncpg.Pool, appointment_id: uuid.UUID
) -> asyncpg.Record | None:
    return await connection.fetchrow(f"SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1", appointment_id)


async def count_live_holds(connection: asyncpg.Connection, client_id: uuid.UUID) -> int:
    return await connection.fetchval(
        "SELECT count(*) FROM appointments WHERE client_id = $1 AND status = 'locked' "
        "AND hold_expires_at > clock_timestamp()",
        client_id,
    )


async def release_seat(connection: asyncpg.Connection, slot_id: uuid.UUID, counter: str) -> None:
    """Give back one `held` or `booked` seat (the CHECK constraint refuses going below zero)."""
    assert counter in ("held", "booked")
    await connection.execute(
        f"UPDATE slots SET {counter} = {counter} - 1, version = version + 1, updated_at = now() WHERE id = $1",
        slot_id,
    )


async def lock_appointment(connection: asyncpg.Connection, appointment_id: uuid.UUID) -> asyncpg.Record | None:
    """The appointment row, locked for this transaction (every transition reads it this way)."""
    return await connection.fetchrow(
        f"SELECT {APPOINTMENT_COLUMNS}, version, lock_token FROM appointments WHERE id = $1 FOR UPDATE",
        appointment_id,
    )
