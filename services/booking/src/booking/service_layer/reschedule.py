"""Rescheduling: the same appointment moves to another slot of the same service, atomically.

The target slot's Redis lock first; then one transaction claims a seat of the same kind there exactly as a public
hold would (validation chain, waitlist reservation, lazy expiry, compare-and-set), gives the old seat back, moves
the row and raises its calendar sequence.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from booking.adapters import repository as repo
from booking.adapters.slot_lock import HeldLock, SlotLock
from booking.domain.appointment import state_of
from booking.domain.errors import InvalidTransition, SlotUnavailable
from booking.domain.slot import Slot
from booking.service_layer import holds, seats
from booking.service_layer.acting import (
    OnCommit,
    Outcome,
    answered,
    expired_outcome,
    hold_has_expired,
    is_its_client,
    locked_for,
    next_sequence,
    refuse_expired,
    run,
)
from booking.service_layer.transitions import transition
from smartslot_common.contracts.events import APPOINTMENT_RESCHEDULED
from smartslot_common.db import Connection
from smartslot_common.http.identity import Caller
from smartslot_common.messaging import add_to_outbox


@dataclass(frozen=True)
class Reschedule:
    """A client moves their appointment to another slot of the same service."""

    appointment_id: uuid.UUID
    slot_id: uuid.UUID
    client: Caller
    lock_ttl_seconds: int


async def _claim_target(connection: Connection, row: asyncpg.Record, slot_id: uuid.UUID, now: datetime) -> Slot:
    """A seat of the same kind on another slot of the same service, taken by compare-and-set after the validation
    chain, exactly as a public hold claims one (a slot the waitlist has first call on is refused)."""
    if slot_id == row["slot_id"]:
        raise SlotUnavailable("The appointment is already on this slot.")
    slot = await holds.claim_seat(connection, slot_id, seats.SEAT[row["status"]], now)
    if slot.service_id != row["service_id"]:  # raising rolls the claimed seat back with everything else
        raise SlotUnavailable("That slot offers another service.")
    return slot


async def _move(
    connection: Connection, row: asyncpg.Record, slot: Slot, who: Caller, token: str | None
) -> asyncpg.Record:
    """Give back the old seat and move the row onto the slot whose seat was claimed."""
    await repo.release_seat(connection, row["slot_id"], seats.SEAT[row["status"]])
    try:
        return await transition(
            connection, row, "reschedule", who, f"moved from slot {row['slot_id']}", slot_id=slot.id,
            provider_id=slot.provider_id, starts_at=slot.starts_at, ends_at=slot.ends_at, lock_token=token,
        )
    except asyncpg.UniqueViolationError:  # the client already has a live appointment on that slot
        raise SlotUnavailable("You already have an appointment on this slot.") from None


def _previous(row: asyncpg.Record) -> dict[str, str]:
    return {"slot_id": str(row["slot_id"]), "provider_id": str(row["provider_id"]),
            "starts_at": row["starts_at"].isoformat(), "ends_at": row["ends_at"].isoformat()}


async def _reschedule_within(
    connection: Connection, command: Reschedule, held: HeldLock | None, on_commit: OnCommit | None
) -> Outcome:
    row = await locked_for(connection, command.appointment_id, command.client, is_its_client)
    refuse_expired(row)
    state_of(row["status"]).next_for("reschedule")
    if await hold_has_expired(connection, row):
        return await expired_outcome(connection, row, "rescheduling")
    now = await repo.database_now(connection)
    if row["starts_at"] <= now:
        raise InvalidTransition("Cannot reschedule an appointment that has already started.")
    slot = await _claim_target(connection, row, command.slot_id, now)
    # As with a new hold, a hold on a one-seat slot keeps its Redis lock (confirm frees it); otherwise the lock was
    # needed only for the move. On a slot of more seats the kept lock would outlive a seat freed beside the hold,
    # turning the next client away with `slot_held` from a slot with room.
    one_seat = row["status"] == "locked" and slot.capacity == 1
    keep = held.token if held is not None and one_seat else None
    moved = await _move(connection, row, slot, command.client, keep)
    sequence = await next_sequence(connection, row["id"])
    await add_to_outbox(
        connection,
        await seats.appointment_event(
            connection, APPOINTMENT_RESCHEDULED, moved, previous=_previous(row), ics_sequence=sequence
        ),
        seats.slot_released(row, command.client.role),
    )
    await answered(on_commit, connection, moved)
    return Outcome(moved, ((row["slot_id"], row["lock_token"]),))


async def reschedule(
    pool: asyncpg.Pool, lock: SlotLock | None, command: Reschedule, on_commit: OnCommit | None = None
) -> asyncpg.Record:
    """Move the appointment to another slot atomically: the same row, a seat of the same kind, the old one freed."""
    held = await seats.acquire_lock(lock, command.slot_id, command.lock_ttl_seconds)
    try:
        row = await run(pool, lock, lambda connection: _reschedule_within(connection, command, held, on_commit))
    except BaseException:
        if held is not None:
            await seats.release_lock(lock, command.slot_id, held.token)
        raise
    if held is not None and row["lock_token"] != held.token:
        await seats.release_lock(lock, command.slot_id, held.token)
    return row
