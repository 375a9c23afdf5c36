"""Rescheduling: the same appointment moves to another slot of the same service, atomically.

The target slot's lock first; then one transaction claims a seat of the same kind there exactly as a public hold
would (validation chain, waitlist reservation, lazy expiry, compare-and-set), gives the old seat back, moves the row
and raises its calendar sequence. After the commit the old slot's lock is freed, and the target's unless the moved
hold keeps it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from booking.adapters.slot_lock import SlotLock, SlotLockLease
from booking.domain.appointment import HOLD_STATUS, SEAT_COUNTER, Appointment, state_of
from booking.domain.errors import InvalidTransition, SecondLiveSeat, SlotUnavailable
from booking.domain.slot import Slot
from booking.service_layer import acting, holds, seats
from booking.service_layer.transitions import transition
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.contracts.events import APPOINTMENT_RESCHEDULED
from smartslot_common.http.identity import Caller


@dataclass(frozen=True)
class Reschedule:
    """A client moves their appointment to another slot of the same service."""

    appointment_id: uuid.UUID
    slot_id: uuid.UUID
    client: Caller
    lock_ttl_seconds: int


async def reschedule(uow: UnitOfWork, lock: SlotLock | None, command: Reschedule) -> Appointment:
    """Move the appointment to another slot atomically: the same row, a seat of the same kind, the old one freed."""
    lease = await seats.acquire_lock(lock, command.slot_id, command.lock_ttl_seconds)
    try:
        return await uow.run(lambda uow: _reschedule_within(uow, lock, command, lease))
    except BaseException:
        if lease is not None:
            await seats.release_lock(lock, command.slot_id, lease.token)
        raise


async def _reschedule_within(
    uow: UnitOfWork, lock: SlotLock | None, command: Reschedule, lease: SlotLockLease | None
) -> Appointment:
    appointment = await acting.locked_for(uow, command.appointment_id, command.client, acting.is_its_client)
    acting.refuse_expired(appointment)
    state_of(appointment.status).next_for("reschedule")
    if await acting.hold_has_expired(uow, appointment):
        return await acting.expire_then_refuse(uow, lock, appointment, "rescheduling")
    now = await uow.now()
    if appointment.starts_at <= now:
        raise InvalidTransition("Cannot reschedule an appointment that has already started.")
    slot = await _claim_target(uow, appointment, command.slot_id, now)
    # As with a new hold, a hold on a one-seat slot keeps its slot lock (confirm frees it); otherwise the lock was
    # needed only for the move. On a slot of more seats the kept lock would outlive a seat freed beside the hold,
    # turning the next client away with `slot_held` from a slot with room.
    one_seat = appointment.status == HOLD_STATUS and slot.capacity == 1
    keep = lease.token if lease is not None and one_seat else None
    moved = await _move(uow, appointment, slot, command.client, keep)
    sequence = await uow.appointments.next_ics_sequence(appointment.id)
    uow.record(
        await seats.appointment_event(
            uow, APPOINTMENT_RESCHEDULED, moved, previous=_previous(appointment), ics_sequence=sequence
        ),
        seats.slot_released(appointment, command.client.role),
    )
    await uow.answer(moved)
    seats.release_lock_after_commit(uow, lock, appointment)
    if lease is not None and keep is None:
        target, token = command.slot_id, lease.token
        uow.after_commit(lambda: seats.release_lock(lock, target, token))
    return moved


async def _claim_target(uow: UnitOfWork, appointment: Appointment, slot_id: uuid.UUID, now: datetime) -> Slot:
    """A seat of the same kind on another slot of the same service, taken by compare-and-set after the validation
    chain, exactly as a public hold claims one (a slot the waitlist has first call on is refused)."""
    if slot_id == appointment.slot_id:
        raise SlotUnavailable("The appointment is already on this slot.")
    slot = await holds.claim_seat(uow, slot_id, SEAT_COUNTER[appointment.status], now)
    if slot.service_id != appointment.service_id:  # raising rolls the claimed seat back with everything else
        raise SlotUnavailable("That slot offers another service.")
    return slot


async def _move(
    uow: UnitOfWork, appointment: Appointment, slot: Slot, who: Caller, token: str | None
) -> Appointment:
    """Give back the old seat and move the appointment onto the slot whose seat was claimed."""
    await uow.slots.release_seat(appointment.slot_id, SEAT_COUNTER[appointment.status])
    try:
        return await transition(
            uow, appointment, "reschedule", who, f"moved from slot {appointment.slot_id}", slot_id=slot.id,
            provider_id=slot.provider_id, starts_at=slot.starts_at, ends_at=slot.ends_at, lock_token=token,
        )
    except SecondLiveSeat:
        raise SlotUnavailable("You already have an appointment on this slot.") from None


def _previous(appointment: Appointment) -> dict[str, str]:
    return {"slot_id": str(appointment.slot_id), "provider_id": str(appointment.provider_id),
            "starts_at": appointment.starts_at.isoformat(), "ends_at": appointment.ends_at.isoformat()}
