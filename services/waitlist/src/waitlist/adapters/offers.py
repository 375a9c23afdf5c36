"""Offers in PostgreSQL: the durable timers of the waitlist, and the query that picks the next entry.

Every change is a compare-and-set on the row's status (and, for requests, its attempt); deadlines are compared
with the database clock. Callers hold the slot's lock (`adapters.seats.lock_slot`) first.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from smartslot_common.db import Connection, ConnectionOrPool, fetch_one, fetch_optional, fetch_value
from waitlist.domain import offers as states
from waitlist.domain.model import FreeSeat

OFFER_COLUMNS = (
    "id, seat_id, slot_id, entry_id, client_id, status, attempt, ttl_seconds, client_email, client_name, "
    "appointment_id, deadline, predecessor_id, available_at, offered_at, decided_at, failure"
)
# An entry still eligible for slot $3: waiting, inside its window, not passed over ($5), no offer open elsewhere, and
# its client never held or declined this slot.
_ELIGIBLE = """
  AND e.status = 'waiting' AND e.service_id = $1 AND (e.provider_id IS NULL OR e.provider_id = $2)
  AND (e.window_from IS NULL OR e.window_from <= $4) AND (e.window_to IS NULL OR $4 < e.window_to)
  AND NOT (e.id = ANY($5::uuid[]))
  AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.entry_id = e.id AND o.status IN ('requesting', 'pending'))
  AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.slot_id = $3 AND o.client_id = e.client_id
                  AND o.status IN ('requesting', 'pending', 'accepted', 'expired'))
ORDER BY e.priority DESC, e.created_at, e.id LIMIT 1
"""
# The first of the three kinds' heads (a slot's own queue, the provider's, the service's), each read from its own
# index in queue order, so a decision costs a few index probes however long the waitlist is.
CANDIDATE = f"""
SELECT id, client_id, client_email, client_name FROM (
  (SELECT e.* FROM entries e WHERE e.slot_id = $3 {_ELIGIBLE})
  UNION ALL
  (SELECT e.* FROM entries e WHERE e.slot_id IS NULL AND e.provider_id = $2 {_ELIGIBLE})
  UNION ALL
  (SELECT e.* FROM entries e WHERE e.slot_id IS NULL AND e.provider_id IS NULL {_ELIGIBLE})
) heads
WHERE $4 > clock_timestamp()
ORDER BY priority DESC, created_at, id LIMIT 1
"""


async def any_candidate(connection: Connection, seat: FreeSeat) -> bool:
    return await candidate(connection, seat, ()) is not None


async def candidate(
    connection: Connection, seat: FreeSeat, excluded: Sequence[uuid.UUID]
) -> asyncpg.Record | None:
    """The first waiting entry the seat matches (domain.matching's rules, in SQL)."""
    return await connection.fetchrow(
        CANDIDATE, seat.service_id, seat.provider_id, seat.slot_id, seat.starts_at, list(excluded)
    )


async def insert_offer(connection: Connection, values: dict[str, Any]) -> asyncpg.Record:
    """A `requesting` offer leased to its sender; `UniqueViolationError` if the entry got one meanwhile."""
    return await fetch_one(
        connection,
        "INSERT INTO offers (id, seat_id, slot_id, entry_id, client_id, status, ttl_seconds, client_email, "
        "client_name, predecessor_id, available_at, lease_until) "
        "VALUES ($1, $2, $3, $4, $5, 'requesting', $6, $7, $8, $9, $10, "
        "clock_timestamp() + $11::float8 * interval '1 second') "
        f"RETURNING {OFFER_COLUMNS}",
        values["id"], values["seat_id"], values["slot_id"], values["entry_id"], values["client_id"],
        values["ttl_seconds"], values.get("client_email"), values.get("client_name"), values.get("predecessor_id"),
        values["available_at"], values["lease_seconds"],
    )


async def live_offers(connection: Connection, seat_id: uuid.UUID) -> list[asyncpg.Record]:
    """The seat's requesting and pending offers, each with `overdue` on the database clock."""
    return await connection.fetch(
        f"SELECT {OFFER_COLUMNS}, (status = 'pending' AND deadline <= clock_timestamp()) AS overdue "
        "FROM offers WHERE seat_id = $1 AND status IN ('requesting', 'pending') FOR UPDATE",
        seat_id,
    )


async def offer(connection: Connection, offer_id: uuid.UUID) -> asyncpg.Record | None:
    return await connection.fetchrow(f"SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1 FOR UPDATE", offer_id)


async def offer_by_appointment(connection: Connection, appointment_id: uuid.UUID) -> asyncpg.Record | None:
    return await connection.fetchrow(
        f"SELECT {OFFER_COLUMNS} FROM offers WHERE appointment_id = $1 FOR UPDATE", appointment_id
    )


async def move_offer(
    connection: Connection, offer_id: uuid.UUID, current: str, target: str, attempt: int | None = None,
    **fields: Any,
) -> asyncpg.Record | None:
    """Compare-and-set the offer from `current` (and `attempt`, if given) to `target`; None when it had moved."""
    states.check_transition(current, target)
    names = sorted(fields)
    assignments = "".join(f", {name} = ${index}" for index, name in enumerate(names, start=5))
    stamp = ", decided_at = clock_timestamp()" if current == states.PENDING else ""
    stamp += ", offered_at = clock_timestamp()" if target == states.PENDING else ""
    return await connection.fetchrow(
        f"UPDATE offers SET status = $3, lease_until = NULL{stamp}{assignments} "
        "WHERE id = $1 AND status = $2 AND ($4::int IS NULL OR attempt = $4) "
        f"RETURNING {OFFER_COLUMNS}",
        offer_id, current, target, attempt, *(fields[name] for name in names),
    )


async def bump_attempt(connection: Connection, offer_id: uuid.UUID, attempt: int, lease_seconds: float) -> bool:
    """Move a requesting offer to its next attempt (a new Idempotency-Key), renewing the sender's lease."""
    return bool(await connection.fetchval(
        "UPDATE offers SET attempt = attempt + 1, lease_until = clock_timestamp() + $3::float8 * interval '1 second' "
        "WHERE id = $1 AND status = 'requesting' AND attempt = $2 RETURNING true",
        offer_id, attempt, lease_seconds,
    ))


async def set_recheck(connection: Connection, offer_id: uuid.UUID, seconds: float) -> None:
    await connection.execute(
        "UPDATE offers SET recheck_at = clock_timestamp() + $2::float8 * interval '1 second' WHERE id = $1",
        offer_id, seconds,
    )


async def is_past(connection: Connection, instant: datetime) -> bool:
    return await fetch_value(connection, bool, "SELECT $1::timestamptz <= clock_timestamp()", instant)


async def due_offers(connection: Connection, limit: int) -> list[asyncpg.Record]:
    """Pending offers past their deadline (database clock), locked; rows another process holds are skipped."""
    return await connection.fetch(
        f"SELECT {OFFER_COLUMNS} FROM offers WHERE status = 'pending' AND deadline <= clock_timestamp() "
        "AND (recheck_at IS NULL OR recheck_at <= clock_timestamp()) "
        "ORDER BY deadline LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )


async def claim_stale_requests(
    connection: Connection, lease_seconds: float, limit: int
) -> list[asyncpg.Record]:
    """Requesting offers whose sender's lease ran out (it died or gave up): leased to this process now."""
    return await connection.fetch(
        "UPDATE offers SET lease_until = clock_timestamp() + $1::float8 * interval '1 second' WHERE id IN ("
        " SELECT id FROM offers WHERE status = 'requesting' AND lease_until <= clock_timestamp()"
        " ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id, slot_id",
        lease_seconds, limit,
    )


async def requested(connection: ConnectionOrPool, offer_id: uuid.UUID) -> asyncpg.Record | None:
    """A requesting offer as its sender needs it (no lock: the CAS on status and attempt decides later)."""
    return await connection.fetchrow(
        f"SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1 AND status = 'requesting'", offer_id
    )


async def offer_view(connection: Connection, offer_id: uuid.UUID) -> asyncpg.Record:
    """Everything an offer event says: the offer, its seat, the slot's names and zone, the client's contact."""
    return await fetch_one(
        connection,
        "SELECT o.id AS offer_id, o.entry_id, o.client_id, o.appointment_id, o.slot_id, s.service_id, s.provider_id, "
        "s.starts_at, o.deadline AS offer_expires_at, c.timezone, c.service_name, c.provider_name, c.clinic_name, "
        "o.client_email, o.client_name "
        "FROM offers o JOIN seats s ON s.id = o.seat_id LEFT JOIN slot_context c ON c.slot_id = o.slot_id "
        "WHERE o.id = $1",
        offer_id,
    )


async def remember_early_outcome(connection: Connection, appointment_id: uuid.UUID, outcome: str) -> None:
    """Booking confirmed or ended a waitlist hold no offer knows yet (its request is still being recorded)."""
    await connection.execute(
        "INSERT INTO early_outcomes (appointment_id, outcome) VALUES ($1, $2) ON CONFLICT (appointment_id) DO NOTHING",
        appointment_id, outcome,
    )


async def early_outcome(connection: Connection, appointment_id: uuid.UUID) -> str | None:
    return await fetch_optional(
        connection, str, "SELECT outcome FROM early_outcomes WHERE appointment_id = $1", appointment_id
    )


async def last_offer_ended(connection: Connection, seat_id: uuid.UUID) -> datetime | None:
    """When the seat's last expired offer ended (declined early, or at its deadline): the seat was free since."""
    return await fetch_optional(
        connection, datetime,
        "SELECT max(least(deadline, decided_at)) FROM offers WHERE seat_id = $1 AND status = 'expired'", seat_id,
    )


async def offers_made_for_seat(connection: Connection, seat_id: uuid.UUID) -> int:
    return await fetch_value(
        connection, int,
        "SELECT count(*) FROM offers WHERE seat_id = $1 AND status IN ('pending', 'accepted', 'expired')", seat_id,
    )


async def has_requesting_on_slot(connection: Connection, slot_id: uuid.UUID) -> bool:
    return bool(await connection.fetchval(
        "SELECT true FROM offers WHERE slot_id = $1 AND status = 'requesting' LIMIT 1", slot_id
    ))


async def fill_ratio(connection: ConnectionOrPool) -> float | None:
    """Accepted over decided offers; None before any was decided."""
    row = await fetch_one(
        connection,
        "SELECT count(*) FILTER (WHERE status = 'accepted') AS accepted, "
        "count(*) FILTER (WHERE status IN ('accepted', 'expired')) AS decided FROM offers"
    )
    return row["accepted"] / row["decided"] if row["decided"] else None
