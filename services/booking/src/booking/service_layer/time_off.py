"""Time off: a provider's absence. The slots inside are blocked; booked appointments inside are refused
(`409 conflicting_appointments`, nothing written) unless the caller asks to cancel them, which happens fee-free in the
same transaction. Working hours and the horizon job read the table and never generate a slot inside it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from booking.adapters.slot_lock import SlotLock
from booking.domain.errors import ConflictingAppointments, InvalidSchedule, NotFound
from booking.domain.slot import Slot
from booking.service_layer.access import require_provider_access
from booking.service_layer.lifecycle import cancel_within
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.contracts.events import SLOT_BLOCKED
from smartslot_common.http.identity import Caller
from smartslot_common.messaging import Event

PRODUCER = "booking"


@dataclass(frozen=True)
class AddTimeOff:
    """A provider will be away: block the slots inside, and cancel what is booked there if asked to."""

    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    cancel_conflicting: bool = False


@dataclass(frozen=True)
class TimeOffAdded:
    """A time off as recorded, with the slots it blocked and the appointments it cancelled."""

    id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime
    blocked_slot_ids: list[uuid.UUID] = field(default_factory=list)
    cancelled_appointment_ids: list[uuid.UUID] = field(default_factory=list)


async def add_time_off(uow: UnitOfWork, lock: SlotLock | None, caller: Caller, command: AddTimeOff) -> TimeOffAdded:
    """Record time off in one transaction; `409 conflicting_appointments` (nothing written) unless told to cancel.
    The cancelled appointments' slot locks are freed after the commit, so no rival slips in before it is visible."""

    async def work(uow: UnitOfWork) -> TimeOffAdded:
        await require_provider_access(uow.catalog, caller, command.provider_id)
        if await uow.schedules.lock_provider(command.provider_id) is None:
            raise NotFound("No such provider.")
        now = await uow.now()
        if command.ends_at <= now:
            raise InvalidSchedule("Time off must end in the future.")
        # Row-locking the slots first waits for holds in flight on them, and every later hold fails its
        # compare-and-set, so the look for live appointments that follows misses none.
        slot_ids = await uow.slots.lock_open_within(command.provider_id, command.starts_at, command.ends_at, now)
        conflicts = await uow.appointments.lock_live_within(
            command.provider_id, command.starts_at, command.ends_at, now)
        if conflicts and not command.cancel_conflicting:
            raise ConflictingAppointments(
                "Appointments are booked inside this time off; cancel them or send cancel_conflicting.",
                appointment_ids=[str(appointment.id) for appointment in conflicts],
            )
        for appointment in conflicts:
            await cancel_within(uow, lock, appointment, caller, command.reason, waive_fee=True, announce_release=False)
        added = await _record_time_off(uow, caller, command, slot_ids, [appointment.id for appointment in conflicts])
        await uow.answer(added)
        return added

    return await uow.run(work)


async def _record_time_off(
    uow: UnitOfWork, caller: Caller, command: AddTimeOff, slot_ids: list[uuid.UUID],
    cancelled: list[uuid.UUID],
) -> TimeOffAdded:
    """Insert the time off and block its slots, one `slot.blocked` each."""
    time_off = await uow.slots.add_time_off(
        command.provider_id, command.starts_at, command.ends_at, command.reason, caller.user_id)
    blocked = await uow.slots.block(slot_ids)
    uow.record(*(Event.create(SLOT_BLOCKED, _blocked(slot, time_off.id), PRODUCER) for slot in blocked))
    return TimeOffAdded(time_off.id, time_off.provider_id, time_off.starts_at, time_off.ends_at, time_off.reason,
                        time_off.created_at, [slot.id for slot in blocked], cancelled)


def _blocked(slot: Slot, time_off_id: uuid.UUID) -> dict[str, str]:
    """`slot.blocked` for a slot inside a time off."""
    return {
        "slot_id": str(slot.id), "provider_id": str(slot.provider_id), "service_id": str(slot.service_id),
        "starts_at": slot.starts_at.isoformat(), "ends_at": slot.ends_at.isoformat(), "reason": "time_off",
        "time_off_id": str(time_off_id),
    }
