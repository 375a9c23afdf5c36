"""Booking's tables, through asyncpg with positional parameters. Every write to a slot is a compare-and-set on
its `version`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from booking.domain.slot import Slot
from smartslot_common.db import Connection, ConnectionOrPool, fetch_one, fetch_value

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


async def database_now(connection: Connection) -> datetime:
    """The database clock: the one clock every deadline uses."""
    return await fetch_value(connection, datetime, "SELECT clock_timestamp()")


async def appointment_context(
    connection: Connection, provider_id: uuid.UUID, service_id: uuid.UUID
) -> dict[str, Any]:
    """What an appointment's events tell consumers besides the appointment: zone, names, place, price."""
    row = await connection.fetchrow(APPOINTMENT_CONTEXT, provider_id, service_id)
    return dict(row) if row else {}


async def get_slot(connection: Connection, slot_id: uuid.UUID) -> Slot | None:
    row = await connection.fetchrow(f"SELECT {SLOT_COLUMNS} FROM slots WHERE id = $1", slot_id)
    return Slot(**dict(row)) if row else None


async def take_seat(connection: Connection, slot: Slot, counter: str) -> bool:
    """Compare-and-set: count one more `held` or `booked` seat if the slot is unchanged since it was read."""
    assert counter in ("held", "booked")
    status = await connection.execute(
        f"UPDATE slots SET {counter} = {counter} + 1, version = version + 1, updated_at = now() "
        "WHERE id = $1 AND version = $2 AND status = 'open' AND held + booked < capacity",
        slot.id,
        slot.version,
    )
    return status == "UPDATE 1"


async def insert_appointment(connection: Connection, values: dict[str, Any]) -> asyncpg.Record:
    columns = ", ".join(values)
    placeholders = ", ".join(f"${index}" for index in range(1, len(values) + 1))
    return await fetch_one(
        connection,
        f"INSERT INTO appointments ({columns}) VALUES ({placeholders}) RETURNING {APPOINTMENT_COLUMNS}",
        *values.values(),
    )


async def record_transition(
    connection: Connection, appointment_id: uuid.UUID, from_status: str | None, to_status: str,
    actor_id: uuid.UUID | None, actor_role: str | None, reason: str | None,
) -> None:
    await connection.execute(
        "INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        appointment_id, from_status, to_status, actor_id, actor_role, reason,
    )


async def record_first_transitions(
    connection: Connection, appointment_id: uuid.UUID, steps: list[tuple[str | None, str]],
    actor_id: uuid.UUID | None, actor_role: str | None, reason: str | None,
) -> None:
    """The audit rows of a new appointment that passes through several statuses at once (one statement)."""
    await connection.executemany(
        "INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [(appointment_id, before, after, actor_id, actor_role, reason) for before, after in steps],
    )


async def get_appointment(
    connection: ConnectionOrPool, appointment_id: uuid.UUID
) -> asyncpg.Record | None:
    return await connection.fetchrow(f"SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1", appointment_id)


async def count_live_holds(connection: Connection, client_id: uuid.UUID) -> int:
    return await fetch_value(
        connection, int,
        "SELECT count(*) FROM appointments WHERE client_id = $1 AND status = 'locked' "
        "AND hold_expires_at > clock_timestamp()",
        client_id,
    )


async def release_seat(connection: Connection, slot_id: uuid.UUID, counter: str) -> None:
    """Give back one `held` or `booked` seat (the CHECK constraint refuses going below zero)."""
    assert counter in ("held", "booked")
    await connection.execute(
        f"UPDATE slots SET {counter} = {counter} - 1, version = version + 1, updated_at = now() WHERE id = $1",
        slot_id,
    )


async def lock_appointment(connection: Connection, appointment_id: uuid.UUID) -> asyncpg.Record | None:
    """The appointment row, locked for this transaction (every transition reads it this way)."""
    return await connection.fetchrow(
        f"SELECT {APPOINTMENT_COLUMNS}, version, lock_token FROM appointments WHERE id = $1 FOR UPDATE",
        appointment_id,
    )


# A claim's one read: the slot (with its waitlist reservation), the database clock, and the event context.
SLOT_TO_CLAIM = """
SELECT s.id, s.provider_id, s.service_id, s.starts_at, s.ends_at, s.capacity, s.held, s.booked, s.status,
       s.version, s.reserved_until, clock_timestamp() AS now,
       EXISTS (SELECT 1 FROM appointments o WHERE o.slot_id = s.id AND o.status = 'locked'
               AND o.hold_expires_at <= clock_timestamp()) AS overdue_holds,
       p.timezone, p.display_name AS provider_name, p.user_id AS provider_user_id, sv.name AS service_name,
       sv.price_cents, sv.currency, c.name AS clinic_name, c.address AS clinic_address
FROM (SELECT 1) AS clock LEFT JOIN (
    slots s JOIN providers p ON p.id = s.provider_id JOIN clinics c ON c.id = p.clinic_id
    JOIN services sv ON sv.id = s.service_id
) ON s.id = $1
"""
_SLOT_FIELDS = ("id", "provider_id", "service_id", "starts_at", "ends_at", "capacity", "held", "booked", "status",
                "version")
_CONTEXT_FIELDS = ("timezone", "provider_name", "provider_user_id", "service_name", "price_cents", "currency",
                   "clinic_name", "clinic_address")
NEW_APPOINTMENT_FIELDS = (
    "id", "slot_id", "provider_id", "service_id", "client_id", "status", "starts_at", "ends_at", "hold_expires_at",
    "origin", "assignment", "assignment_reason", "lock_token", "client_email", "client_name", "currency",
)


@dataclass(frozen=True)
class SlotToClaim:
    """What a claim reads before it writes: the slot (None: no such slot), its reservation, the database clock and
    the event context."""

    slot: Slot | None
    reserved_until: datetime | None
    now: datetime
    context: dict[str, Any]
    overdue_holds: bool = False  # holds past their deadline still count as taken seats until expired


async def slot_to_claim(connection: Connection, slot_id: uuid.UUID) -> SlotToClaim:
    """The slot and all a claim needs besides it, in one round trip."""
    row = await fetch_one(connection, SLOT_TO_CLAIM, slot_id)  # one row: the slot is LEFT JOINed
    slot = Slot(**{field: row[field] for field in _SLOT_FIELDS}) if row["id"] is not None else None
    return SlotToClaim(slot, row["reserved_until"], row["now"], {field: row[field] for field in _CONTEXT_FIELDS},
                       bool(row["overdue_holds"]))


def _seat_and_appointment(counter: str) -> str:
    """One statement: the compare-and-set on the slot, then — only if it won — the appointment, its audit rows and its
    event. A statement is atomic by itself, so nothing is half-written and no explicit transaction is needed."""
    assert counter in ("held", "booked")
    columns = ", ".join(NEW_APPOINTMENT_FIELDS)
    values = ", ".join(f"${index}" for index in range(3, 3 + len(NEW_APPOINTMENT_FIELDS)))
    after = 3 + len(NEW_APPOINTMENT_FIELDS)
    steps, actor, event = after, after + 2, after + 5
    return f"""
WITH seat AS (
    UPDATE slots SET {counter} = {counter} + 1, version = version + 1, updated_at = now()
    WHERE id = $1 AND version = $2 AND status = 'open' AND held + booked < capacity
    RETURNING id
), appointment AS (
    INSERT INTO appointments ({columns}) SELECT {values} FROM seat
    RETURNING {APPOINTMENT_COLUMNS}
), audit AS (
    INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason)
    SELECT appointment.id, step.from_status, step.to_status, ${actor}, ${actor + 1}, ${actor + 2}
    FROM appointment, unnest(${steps}::text[], ${steps + 1}::text[]) WITH ORDINALITY
        AS step(from_status, to_status, position)
    ORDER BY step.position
), event AS (
    INSERT INTO outbox (id, event_type, envelope) SELECT ${event}, ${event + 1}, ${event + 2}::text::jsonb
    FROM appointment
)
SELECT * FROM appointment
"""


_CLAIM_STATEMENTS = {counter: _seat_and_appointment(counter) for counter in ("held", "booked")}


async def take_seat_with_appointment(
    connection: Connection, slot: Slot, counter: str, appointment: dict[str, Any],
    steps: list[tuple[str | None, str]], actor: tuple[uuid.UUID | None, str | None, str | None],
    event: tuple[uuid.UUID, str, str],
) -> asyncpg.Record | None:
    """Take one `held` or `booked` seat by compare-and-set and write the appointment, its first audit rows
    (`steps`, by `actor` = (id, role, reason)) and its outbox `event` (id, type, envelope JSON) in one statement;
    None when the slot changed since it was read (nothing written)."""
    return await connection.fetchrow(
        _CLAIM_STATEMENTS[counter], slot.id, slot.version, *(appointment[field] for field in NEW_APPOINTMENT_FIELDS),
        [before for before, _ in steps], [after for _, after in steps], *actor, *event,
    )


# An action's one read of an appointment: the row (with its version and lock token), the clock and the event context.
_APPOINTMENT_FIELDS = [column.strip() for column in APPOINTMENT_COLUMNS.split(",")] + ["version", "lock_token"]
APPOINTMENT_TO_ACT_ON = f"""
SELECT {", ".join(f"a.{column}" for column in _APPOINTMENT_FIELDS)}, clock_timestamp() AS now,
       p.timezone, p.display_name AS provider_name, p.user_id AS provider_user_id, sv.name AS service_name,
       sv.price_cents, c.name AS clinic_name, c.address AS clinic_address
FROM appointments a
JOIN providers p ON p.id = a.provider_id JOIN clinics c ON c.id = p.clinic_id JOIN services sv ON sv.id = a.service_id
WHERE a.id = $1
"""


@dataclass(frozen=True)
class AppointmentToActOn:
    """An appointment as read (unlocked) before a compare-and-set on its version, with the clock and event context."""

    row: dict[str, Any]
    now: datetime
    context: dict[str, Any]


async def appointment_to_act_on(connection: Connection, appointment_id: uuid.UUID) -> AppointmentToActOn | None:
    """The appointment and all an action on it needs besides, in one round trip; None when it does not exist."""
    row = await connection.fetchrow(APPOINTMENT_TO_ACT_ON, appointment_id)
    if row is None:
        return None
    context = {field: row[field] for field in _CONTEXT_FIELDS if field != "currency"} | {"currency": row["currency"]}
    return AppointmentToActOn({field: row[field] for field in _APPOINTMENT_FIELDS}, row["now"], context)


# One statement: the hold becomes `$3` by compare-and-set (still locked, same version, deadline not passed on the
# database clock), its held seat becomes a booked one, its audit row and its event are written — or nothing is.
CONFIRM_HOLD = f"""
WITH confirmed AS (
    UPDATE appointments SET status = $3, version = version + 1, updated_at = now(), lock_token = NULL,
        hold_expires_at = NULL
    WHERE id = $1 AND version = $2 AND status = 'locked' AND hold_expires_at > clock_timestamp()
    RETURNING {APPOINTMENT_COLUMNS}, version, lock_token
), audit AS (
    INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason)
    SELECT id, 'locked', status, $4, $5, NULL FROM confirmed
), seat AS (
    UPDATE slots SET held = held - 1, booked = booked + 1, version = version + 1, updated_at = now()
    WHERE id = (SELECT slot_id FROM confirmed)
), event AS (
    INSERT INTO outbox (id, event_type, envelope) SELECT $6, $7, $8::text::jsonb FROM confirmed
)
SELECT * FROM confirmed
"""


async def confirm_hold(
    connection: Connection, appointment: dict[str, Any], status: str, actor: tuple[uuid.UUID, str],
    event: tuple[uuid.UUID, str, str],
) -> asyncpg.Record | None:
    """Confirm a hold read with `appointment_to_act_on` in one statement; None when it changed since, or its
    deadline passed (nothing written)."""
    return await connection.fetchrow(CONFIRM_HOLD, appointment["id"], appointment["version"], status, *actor, *event)
