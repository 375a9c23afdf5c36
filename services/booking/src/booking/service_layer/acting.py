"""Acting on one appointment: lock its row, check the caller may act, and what the actions share.

Every use case on an existing appointment (confirm, cancel, complete, no-show, reschedule) follows the same shape:
the row is locked first, a refusal that must still commit (an expired hold) is answered only after the commit, and
slot locks are freed only once the change is visible (after-commit actions on the unit of work).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from booking.adapters.slot_lock import SlotLock
from booking.domain.appointment import HOLD_STATUS, Appointment
from booking.domain.errors import HoldExpired, NotFound
from booking.service_layer import access, seats
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.http.identity import Caller

Access = Callable[[UnitOfWork, Caller, Appointment], Awaitable[bool]]


async def is_its_client(_: UnitOfWork, who: Caller, appointment: Appointment) -> bool:
    """Only the client the appointment belongs to."""
    return who.role == "client" and appointment.client_id == who.user_id


async def is_its_provider_or_admin(uow: UnitOfWork, who: Caller, appointment: Appointment) -> bool:
    """The provider the appointment is with, or an admin."""
    if who.is_admin:
        return True
    return (who.role == "provider"
            and await access.provider_of_user(uow.catalog, who.user_id) == appointment.provider_id)


async def may_see(uow: UnitOfWork, who: Caller, appointment: Appointment) -> bool:
    """Its client, its provider, or an admin."""
    return await access.may_see_appointment(uow.catalog, who, appointment)


async def locked_for(uow: UnitOfWork, appointment_id: uuid.UUID, who: Caller, may: Access) -> Appointment:
    """The appointment, row-locked for this transaction; `404` when it does not exist or the caller may not act."""
    appointment = await uow.appointments.lock(appointment_id)
    if appointment is None or not await may(uow, who, appointment):
        raise NotFound("No such appointment.")
    return appointment


async def hold_has_expired(uow: UnitOfWork, appointment: Appointment) -> bool:
    if appointment.status != HOLD_STATUS:
        return False
    assert appointment.hold_expires_at is not None  # set on every hold
    return appointment.hold_expires_at <= await uow.now()


def refuse_expired(appointment: Appointment) -> None:
    # Whoever expired it first (the sweeper, a rival's claim, an earlier call), its client hears the same 410.
    if appointment.status == "expired":
        raise HoldExpired("The hold expired before it was confirmed; hold the slot again.")


async def expire_then_refuse(
    uow: UnitOfWork, lock: SlotLock | None, appointment: Appointment, action: str
) -> Appointment:
    """Expire the hold for good (committed, its slot lock freed after), then answer `410 hold_expired`."""
    expired = await seats.expire_within(uow, appointment, f"hold deadline passed before {action}")
    seats.release_lock_after_commit(uow, lock, appointment)
    uow.refuse_after_commit(HoldExpired("The hold expired before it was confirmed; hold the slot again."))
    return expired
