"""What every path that takes or gives back a seat shares: the slot lock around it, the seat counters, expiry,
and the events that tell the other services.

Holds, the lifecycle, the sweeper and time off all come through here, so a seat is always given back the same way
and every appointment event carries the same context.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from booking import metrics
from booking.adapters.slot_lock import FULL, LockUnavailable, SlotLock, SlotLockLease
from booking.domain.appointment import Appointment, EventContext
from booking.domain.errors import HELD_BY_ANOTHER, NO_SEAT_LEFT, SlotHeld, SlotUnavailable
from booking.domain.events import appointment_payload, slot_released_payload
from booking.service_layer.transitions import transition
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.contracts.events import APPOINTMENT_EXPIRED, SLOT_RELEASED
from smartslot_common.logging import get_logger
from smartslot_common.messaging import Event

log = get_logger(__name__)
PRODUCER = "booking"
SYSTEM = "system"


async def acquire_lock(
    lock: SlotLock | None, slot_id: uuid.UUID, ttl_seconds: float, public: bool = True
) -> SlotLockLease | None:
    """Win the slot lock or answer `409 slot_held`; with Redis unable to vote, database-only mode (None).

    A public claim on a slot this process found held or full a moment ago is refused from memory, before Redis; the
    waitlist's claims always ask (the seat it was told is free must not be refused by a memory of it taken)."""
    if lock is None:
        return None
    if public:
        refuse_remembered(lock, slot_id)
    try:
        lease = await lock.acquire(slot_id, int(ttl_seconds * 1000))
    except LockUnavailable as error:
        log.warning("lock_unavailable_database_only", reason=str(error))
        metrics.LOCK_FALLBACKS.inc()
        return None
    if lease is None:
        metrics.CONFLICTS.labels(stage="redis").inc()
        raise SlotHeld(HELD_BY_ANOTHER)
    return lease


def refuse_remembered(lock: SlotLock, slot_id: uuid.UUID) -> None:
    """`409` from memory when a claim in this process found the slot held or full (or took its last seat) a moment
    ago."""
    if (refused := lock.recently_refused(slot_id)) is None:
        return
    metrics.CONFLICTS.labels(stage="memory").inc()
    if refused == FULL:
        raise SlotUnavailable(NO_SEAT_LEFT)
    raise SlotHeld(HELD_BY_ANOTHER)


def refused_for(lock: SlotLock | None, slot_id: uuid.UUID, refused: SlotHeld | SlotUnavailable) -> float | None:
    """How long every public claim of the slot will be refused from memory with this very answer (held by another,
    or no seat left), so that whoever relays it may give it meanwhile; None when the answer was this client's own
    (their seat already there, the waitlist's first call) or nothing is remembered."""
    remembered = lock.remembered(slot_id) if lock is not None else None
    if remembered is None:
        return None
    why, seconds = remembered
    said = NO_SEAT_LEFT if why == FULL else HELD_BY_ANOTHER
    same_answer = refused.detail == said and isinstance(refused, SlotUnavailable if why == FULL else SlotHeld)
    return seconds if same_answer else None


@asynccontextmanager
async def taking_turns(lock: SlotLock | None, slot_id: uuid.UUID, wait_seconds: float) -> AsyncIterator[None]:
    """An instant booking's gate, in this process only (it keeps no lock after its request, so Redis has nothing to
    add): claims on one slot go one at a time; each waiting claim asks the memory again when the one before it ends,
    so a storm's losers are refused without reaching PostgreSQL, and a slot with seats left serves its waiting
    claims in turn. A claim kept waiting longer than `wait_seconds` is `409 slot_held`. PostgreSQL's compare-and-set
    still decides against claims in other processes."""
    if lock is None:
        yield
        return
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        refuse_remembered(lock, slot_id)
        if (running := lock.take_turn(slot_id)) is None:
            break
        try:
            async with asyncio.timeout_at(deadline):
                await running.wait()
        except TimeoutError:
            metrics.CONFLICTS.labels(stage="turn").inc()
            raise SlotHeld(HELD_BY_ANOTHER) from None
    try:
        yield
    finally:
        lock.end_turn(slot_id)


async def release_lock(lock: SlotLock | None, slot_id: uuid.UUID, token: str | None) -> None:
    """Free the slot lock a claim took on a slot, and forget having found it held or full; run after the commit
    (without a token only the memory goes: a confirmed seat given back)."""
    if lock is None:
        return
    lock.forget(slot_id)
    if token:
        await lock.release(SlotLockLease(lock.key(slot_id), token))


def release_lock_after_commit(uow: UnitOfWork, lock: SlotLock | None, appointment: Appointment) -> None:
    """Once the change is visible, free the slot lock `appointment` kept (and this process's memory of the slot)."""
    if lock is not None:
        slot_id, token = appointment.slot_id, appointment.lock_token
        uow.after_commit(lambda: release_lock(lock, slot_id, token))


async def appointment_event(uow: UnitOfWork, kind: str, appointment: Appointment, **extra: Any) -> Event:
    """An appointment event with the context consumers need (zone, names, place), read in the same transaction."""
    context = await uow.appointments.event_context(appointment.provider_id, appointment.service_id)
    return appointment_event_from(kind, appointment.as_row(), context, **extra)


def appointment_event_from(kind: str, row: Mapping[str, Any], context: EventContext, **extra: Any) -> Event:
    """An appointment event from an appointment's fields and context the caller already read."""
    return Event.create(kind, appointment_payload(row, context.as_mapping(), **extra), PRODUCER)


def slot_released(appointment: Appointment, released_by: str) -> Event:
    """`slot.released` for the seat `appointment` occupied; the waitlist reads `released_by` (client|provider|admin|
    system|time_off) to decide whether the slot first waits in its buffer window."""
    return Event.create(SLOT_RELEASED, slot_released_payload(appointment.as_row(), released_by), PRODUCER)


async def give_back_seat(uow: UnitOfWork, appointment: Appointment, released_by: str, announce: bool = True) -> None:
    """Free the seat a live appointment occupied and, unless the slot is being withdrawn, say it is free again."""
    if counter := appointment.seat_counter:
        await uow.slots.release_seat(appointment.slot_id, counter)
        if announce:
            uow.record(slot_released(appointment, released_by))


async def expire_within(uow: UnitOfWork, appointment: Appointment, reason: str = "hold deadline passed") -> Appointment:
    """Expire a hold (read with `uow.appointments.lock`): the held seat goes back, `appointment.expired` +
    `slot.released` (released_by `system`) are recorded. The caller frees its slot lock after the commit."""
    expired = await transition(uow, appointment, "expire", None, reason, lock_token=None)
    uow.record(await appointment_event(uow, APPOINTMENT_EXPIRED, expired))
    await give_back_seat(uow, appointment, SYSTEM)
    return expired


async def reserve_for_waitlist(uow: UnitOfWork, slot_id: uuid.UUID, until: datetime | None) -> None:
    """Keep a slot out of the public pool until `until` (None: public again) while the waitlist has first call on it."""
    await uow.slots.reserve_for_waitlist(slot_id, until)


async def return_to_public(uow: UnitOfWork, slot_id: uuid.UUID) -> bool:
    """End a slot's reservation for the waitlist and say so (`slot.released` by `waitlist`, which the waitlist itself
    ignores and availability reads as "show it again"); False when the slot was not reserved."""
    slot = await uow.slots.end_reservation(slot_id)
    if slot is None:
        return False
    freed = {"id": None, "slot_id": slot.id, "provider_id": slot.provider_id, "service_id": slot.service_id,
             "starts_at": slot.starts_at, "ends_at": slot.ends_at}
    uow.record(Event.create(SLOT_RELEASED, slot_released_payload(freed, "waitlist"), PRODUCER))
    return True
