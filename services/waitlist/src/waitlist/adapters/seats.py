"""Freed seats in PostgreSQL, and the per-slot lock every decision about a slot takes first.

Work on one slot is serialised by a transaction-scoped advisory lock taken before any row lock, so event handlers,
senders and the sweeper never deadlock on each other.
"""

from __future__ import annotations

import abc
import uuid

import asyncpg

from smartslot_common.db import Connection, fetch_value
from waitlist.domain.commands import ReturnSlot
from waitlist.domain.seats import Seat, SeatMove, SlotContext
from waitlist.domain.states import SeatOutcome, SeatState, check_seat

SEAT_COLUMNS = (
    "id, released_appointment_id, slot_id, service_id, provider_id, starts_at, ends_at, released_by, released_at, "
    "status, outcome"
)
_LEASE = "CASE WHEN $%d::float8 IS NULL THEN NULL ELSE clock_timestamp() + $%d::float8 * interval '1 second' END"


def to_seat(row: asyncpg.Record) -> Seat:
    """A seat row as the domain's `Seat`."""
    return Seat(
        row["id"], row["slot_id"], row["service_id"], row["provider_id"], row["starts_at"], row["ends_at"],
        row["released_by"], row["released_at"], SeatState(row["status"]),
        SeatOutcome(row["outcome"]) if row["outcome"] is not None else None, row["released_appointment_id"],
    )


def _slot_lock_key(slot_id: uuid.UUID) -> str:
    return f"waitlist.slot:{slot_id}"


class SeatRepository(abc.ABC):
    """Freed seats, and the per-slot lock every decision about a slot takes first."""

    @abc.abstractmethod
    async def lock_slot(self, slot_id: uuid.UUID) -> None:
        """Serialise every decision about the slot until the transaction ends."""

    @abc.abstractmethod
    async def try_lock_slot(self, slot_id: uuid.UUID) -> bool:
        """`lock_slot` if nobody holds it now."""

    @abc.abstractmethod
    async def remember_context(self, slot_id: uuid.UUID, service_id: uuid.UUID, context: SlotContext) -> None:
        """Keep a slot's names and zone while someone waits for its service."""

    @abc.abstractmethod
    async def add(self, seat: Seat, lease_seconds: float | None = None) -> Seat | None:
        """Record a freed seat; None when its release was recorded already."""

    @abc.abstractmethod
    async def get(self, seat_id: uuid.UUID) -> Seat | None:
        """The seat, locked."""

    @abc.abstractmethod
    async def others_open(self, slot_id: uuid.UUID, seat_id: uuid.UUID) -> bool:
        """Another freed seat of the slot is still deferred or being offered."""

    @abc.abstractmethod
    async def apply(self, move: SeatMove, lease_seconds: float | None = None) -> None:
        """Write the move; a `returning` seat is leased to this process for `lease_seconds`."""

    @abc.abstractmethod
    async def deferred(self, slot_id: uuid.UUID | None, limit: int) -> list[Seat]:
        """Deferred seats (of one slot, or any) with no hold request in flight on their slot, locked."""

    @abc.abstractmethod
    async def claim_stale_returns(self, lease_seconds: float, limit: int) -> list[ReturnSlot]:
        """Hand-backs never confirmed, leased to this process now."""

    @abc.abstractmethod
    async def returned(self, seat_id: uuid.UUID) -> None:
        """Booking took the slot back: the `returning` seat is done."""


class PostgresSeatRepository(SeatRepository):
    """The freed seats of the waitlist's schema, on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def lock_slot(self, slot_id: uuid.UUID) -> None:
        """Serialise every decision about one slot until the transaction ends."""
        await self._connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _slot_lock_key(slot_id)
        )

    async def try_lock_slot(self, slot_id: uuid.UUID) -> bool:
        """`lock_slot` if nobody holds it now (the sweeper, which already holds row locks, must never wait)."""
        return await fetch_value(
            self._connection, bool, "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
            _slot_lock_key(slot_id),
        )

    async def remember_context(self, slot_id: uuid.UUID, service_id: uuid.UUID, context: SlotContext) -> None:
        """Keep a slot's names and zone, only while someone waits for its service (nothing else would read them)."""
        await self._connection.execute(
            "INSERT INTO slot_context (slot_id, timezone, service_name, provider_name, clinic_name) "
            "SELECT $1, $3, $4, $5, $6 "
            "WHERE EXISTS (SELECT 1 FROM entries WHERE service_id = $2 AND status = 'waiting') "
            "ON CONFLICT (slot_id) DO UPDATE SET timezone = coalesce(EXCLUDED.timezone, slot_context.timezone), "
            "service_name = coalesce(EXCLUDED.service_name, slot_context.service_name), "
            "provider_name = coalesce(EXCLUDED.provider_name, slot_context.provider_name), "
            "clinic_name = coalesce(EXCLUDED.clinic_name, slot_context.clinic_name), updated_at = now()",
            slot_id, service_id, context.timezone, context.service_name, context.provider_name, context.clinic_name,
        )

    async def add(self, seat: Seat, lease_seconds: float | None = None) -> Seat | None:
        """Record a freed seat (a `returning` one leased to this process); None when its release was recorded
        already."""
        row = await self._connection.fetchrow(
            "INSERT INTO seats (id, released_appointment_id, slot_id, service_id, provider_id, starts_at, ends_at, "
            "released_by, released_at, status, outcome, lease_until) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, {_LEASE % (12, 12)}) "
            f"ON CONFLICT (id) DO NOTHING RETURNING {SEAT_COLUMNS}",
            seat.id, seat.released_appointment_id, seat.slot_id, seat.service_id, seat.provider_id, seat.starts_at,
            seat.ends_at, seat.released_by, seat.released_at, seat.state.value,
            seat.outcome.value if seat.outcome is not None else None, lease_seconds,
        )
        return to_seat(row) if row is not None else None

    async def get(self, seat_id: uuid.UUID) -> Seat | None:
        """The seat, locked for the rest of the transaction."""
        row = await self._connection.fetchrow(f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = $1 FOR UPDATE", seat_id)
        return to_seat(row) if row is not None else None

    async def others_open(self, slot_id: uuid.UUID, seat_id: uuid.UUID) -> bool:
        """Another freed seat of the slot is still deferred or being offered."""
        return bool(await fetch_value(
            self._connection, int,
            "SELECT count(*) FROM seats WHERE slot_id = $1 AND id <> $2 AND status IN ('deferred', 'offering')",
            slot_id, seat_id,
        ))

    async def apply(self, move: SeatMove, lease_seconds: float | None = None) -> None:
        """Write the move (the caller holds the seat's row lock); a `returning` seat is leased to this process."""
        await self._connection.execute(
            "UPDATE seats SET status = $2, outcome = coalesce($3, outcome), updated_at = clock_timestamp(), "
            f"lease_until = {_LEASE % (4, 4)} WHERE id = $1",
            move.seat_id, move.target.value, move.outcome.value if move.outcome is not None else None, lease_seconds,
        )

    async def deferred(self, slot_id: uuid.UUID | None, limit: int) -> list[Seat]:
        """Deferred seats (of one slot, or any) whose slot has no hold request in flight any more, locked."""
        rows = await self._connection.fetch(
            f"SELECT {SEAT_COLUMNS} FROM seats s WHERE status = 'deferred' AND ($1::uuid IS NULL OR slot_id = $1) "
            "AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.slot_id = s.slot_id AND o.status = 'requesting') "
            "ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            slot_id, limit,
        )
        return [to_seat(row) for row in rows]

    async def claim_stale_returns(self, lease_seconds: float, limit: int) -> list[ReturnSlot]:
        """Seats whose hand-back was never confirmed (a crash, booking down): taken over for another try."""
        rows = await self._connection.fetch(
            "UPDATE seats SET lease_until = clock_timestamp() + $1::float8 * interval '1 second' WHERE id IN ("
            " SELECT id FROM seats WHERE status = 'returning' AND lease_until <= clock_timestamp()"
            " ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id, slot_id",
            lease_seconds, limit,
        )
        return [ReturnSlot(row["id"], row["slot_id"]) for row in rows]

    async def returned(self, seat_id: uuid.UUID) -> None:
        """Booking took the slot back: the `returning` seat is done."""
        check_seat(SeatState.RETURNING, SeatState.DONE)
        await self._connection.execute(
            "UPDATE seats SET status = 'done', lease_until = NULL, updated_at = clock_timestamp() "
            "WHERE id = $1 AND status = 'returning'",
            seat_id,
        )
