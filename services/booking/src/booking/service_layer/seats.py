"""What every path that takes or gives back a seat shares: the Redis lock around it, the seat counters, expiry,
and the events that tell the other services.

Holds, the lifecycle, the sweeper and time off all come through here, so a seat is always given back the same way
and every appointment event carries the same context.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from booking import metrics
from booking.adapters import repository as repo
from booking.adapters.slot_lock import FULL, HeldLock, LockUnavailable, SlotLock
from booking.domain.errors import SlotHeld, SlotUnavailable
from booking.domain.events import appointment_payload, slot_released_payload
from booking.service_layer.transitions import transition
from smartslot_common.contracts.events import APPOINTMENT_EXPIRED, SLOT_RELEASED
from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging import Event, add_to_outbox
from smartslot_common.rows import Row

log = get_logger(__name__)
PRODUCER = "booking"
SYSTEM = "system"
# Which slot counter a live appointment occupies.
SEAT = {"locked": "held", "confirmed": "booked"}


async def acquire_lock(
    lock: SlotLock | None, slot_id: uuid.UUID, ttl_seconds: float, public: bool = True
) -> HeldLock | None:
    """Win the slot's Redis lock or answer `409 slot_held`; with Redis unable to vote, database-only mode (None).

    A public claim on a slot this process found held or full a moment ago is refused from memory, before Redis; the
    waitlist's claims always ask (the seat it was told is free must not be refused by a memory of it taken)."""
    if lock is None:
        return None
    if public and (refused := lock.recently_refused(slot_id)) is not None:
        metrics.CONFLICTS.labels(stage="memory").inc()
        if refused == FULL:
            raise SlotUnavailable("This time slot is no longer available.")
        raise SlotHeld("Someone else is holding this slot right now.")
    try:
        held = await lock.acquire(slot_id, int(ttl_seconds * 1000))
    except LockUnavailable as error:
        log.warning("lock_unavailable_database_only", reason=str(error))
        metrics.LOCK_FALLBACKS.inc()
        return None
    if held is None:
        metrics.CONFLICTS.labels(stage="redis").inc()
        raise SlotHeld("Someone else is holding this slot right now.")
    return held


async def release_lock(lock: SlotLock | None, slot_id: uuid.UUID, token: str | None) -> None:
    """Free the Redis lock a claim took on a slot, and forget having found it held or full; call after the commit
    (without a token only the memory goes: a confirmed seat given back)."""
    if lock is None:
        return
    lock.forget(slot_id)
    if token:
        await lock.release(HeldLock(lock.key(slot_id), token))


async def appointment_event(connection: Connection, kind: str, row: asyncpg.Record, **extra: Any) -> Event:
    """An appointment event with the context consumers need (zone, names, place), read in the same transaction."""
    context = await repo.appointment_context(connection, row["provider_id"], row["service_id"])
    return appointment_event_from(kind, row, context, **extra)


def appointment_event_from(kind: str, row: Row, context: Mapping[str, Any], **extra: Any) -> Event:
    """An appointment event from context the caller already read in its transaction."""
    return Event.create(kind, appointment_payload(row, context) | extra, PRODUCER)


def slot_released(row: asyncpg.Record, released_by: str) -> Event:
    """`slot.released` for the seat `row` occupied; the waitlist reads `released_by` (client|provider|admin|system|
    time_off) to decide whether the slot first waits in its buffer window."""
    return Event.create(SLOT_RELEASED, slot_released_payload(row, released_by), PRODUCER)


async def give_back_seat(
    connection: Connection, row: asyncpg.Record, released_by: str, announce: bool = True
) -> None:
    """Free the seat a live appointment occupied and, unless the slot is being withdrawn, say it is free again."""
    if seat := SEAT.get(row["status"]):
        await repo.release_seat(connection, row["slot_id"], seat)
        if announce:
            await add_to_outbox(connection, slot_released(row, released_by))


async def expire_within(
    connection: Connection, appointment_row: asyncpg.Record, reason: str = "hold deadline passed"
) -> asyncpg.Record:
    """Expire a locked row (read with `repo.lock_appointment`) inside the caller's transaction: the held seat goes
    back, `appointment.expired` + `slot.released` (released_by `system`) go to the outbox."""
    expired = await transition(connection, appointment_row, "expire", None, reason, lock_token=None)
    await add_to_outbox(connection, await appointment_event(connection, APPOINTMENT_EXPIRED, expired))
    await give_back_seat(connection, appointment_row, SYSTEM)
    return expired


async def reserve_for_waitlist(connection: Connection, slot_id: uuid.UUID, until: datetime | None) -> None:
    """Keep a slot out of the public pool until `until` (None: public again) while the waitlist has first call on it."""
    # A write to the slot like any other: its version moves, so a public claim that read it before loses its CAS.
    await connection.execute(
        "UPDATE slots SET reserved_until = $2, version = version + 1, updated_at = now() WHERE id = $1",
        slot_id, until,
    )


async def return_to_public(connection: Connection, slot_id: uuid.UUID) -> bool:
    """End a slot's reservation for the waitlist and say so (`slot.released` by `waitlist`, which the waitlist itself
    ignores and availability reads as "show it again"); False when the slot was not reserved."""
    row = await connection.fetchrow(
        "UPDATE slots SET reserved_until = NULL, version = version + 1, updated_at = now() "
        "WHERE id = $1 AND reserved_until IS NOT NULL "
        "RETURNING id AS slot_id, provider_id, service_id, starts_at, ends_at",
        slot_id,
    )
    if row is None:
        return False
    await add_to_outbox(connection, Event.create(
        SLOT_RELEASED, slot_released_payload(dict(row) | {"id": None}, "waitlist"), PRODUCER
    ))
    return True
