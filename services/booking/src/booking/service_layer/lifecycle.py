"""The appointment lifecycle after the hold: confirm, cancel, complete, no-show, and the fee quote.

Every use case is one transaction on the unit of work: the appointment row is locked first, `transition` applies the
State pattern's verdict with a compare-and-set and an audit row, and the events are recorded on the unit of work,
which writes them to the outbox with the commit. Slot locks are released only after the commit (after-commit
actions), so no rival can slip in before the change is visible.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from booking import metrics
from booking.adapters.slot_lock import SlotLock
from booking.domain.appointment import SEAT_COUNTER, Appointment, state_of
from booking.domain.errors import InvalidTransition, NotFound
from booking.domain.policies import waives_fee
from booking.service_layer import acting, seats
from booking.service_layer.transitions import transition
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_NO_SHOW,
)
from smartslot_common.http.identity import Caller
from smartslot_common.logging import get_logger

log = get_logger(__name__)
MAX_REASON = 500


# --- cancellation (also used by time off, inside its own transaction) ---------------------------------------------


def _actor_role(actor: Caller | None) -> str:
    return actor.role if actor is not None else seats.SYSTEM


async def _fee(uow: UnitOfWork, appointment: Appointment, role: str, at: datetime) -> int:
    if waives_fee(role, appointment.status):
        return 0
    price, policy = await uow.appointments.cancellation_terms(appointment.service_id)
    return policy.fee(price, appointment.starts_at, at)


async def cancel_within(
    uow: UnitOfWork, lock: SlotLock | None, appointment: Appointment, actor: Caller | None, reason: str | None,
    waive_fee: bool, announce_release: bool = True,
) -> Appointment:
    """Cancel an appointment read with `uow.appointments.lock`, inside the caller's transaction.

    Charges the service's policy fee only when a client cancels a confirmed appointment (never with `waive_fee`),
    gives the seat back, raises the calendar sequence, records `appointment.cancelled` + `slot.released` and frees
    the appointment's slot lock after the commit. `announce_release=False` is for a caller withdrawing the slot
    itself (time off), where offering the freed seat to anyone would be a false promise.
    """
    role = _actor_role(actor)
    state_of(appointment.status).next_for("cancel")  # refuse before reading anything else
    now = await uow.now()
    fee = 0 if waive_fee else await _fee(uow, appointment, role, now)
    reason = reason[:MAX_REASON] if reason else None
    cancelled = await transition(
        uow, appointment, "cancel", actor, reason,
        fee_cents=fee, cancelled_by=role, cancel_reason=reason, cancelled_at=now, lock_token=None,
    )
    sequence = await uow.appointments.next_ics_sequence(appointment.id)
    uow.record(await seats.appointment_event(
        uow, APPOINTMENT_CANCELLED, cancelled, fee_cents=fee, currency=cancelled.currency, cancelled_by=role,
        reason=reason, ics_sequence=sequence,
    ))
    await seats.give_back_seat(uow, appointment, role, announce_release)
    seats.release_lock_after_commit(uow, lock, appointment)
    return cancelled


@dataclass(frozen=True)
class Cancel:
    """Its client, its provider or an admin cancels an appointment."""

    appointment_id: uuid.UUID
    who: Caller
    reason: str | None = None
    waitlist_buffer_seconds: int = 0


async def cancel(uow: UnitOfWork, lock: SlotLock | None, command: Cancel) -> Appointment:
    """Its client, its provider or an admin cancels; only the client of a confirmed appointment pays a fee.

    A seat freed by the provider or an admin first goes to the waitlist: the slot stays out of the public pool for
    `waitlist_buffer_seconds` (the waitlist hands it back sooner when nobody is waiting).
    """

    async def work(uow: UnitOfWork) -> Appointment:
        who = command.who
        appointment = await acting.locked_for(uow, command.appointment_id, who, acting.may_see)
        cancelled = await cancel_within(uow, lock, appointment, who, command.reason, waive_fee=False)
        buffer = command.waitlist_buffer_seconds
        if who.role in ("provider", "admin") and buffer and appointment.status in SEAT_COUNTER:
            until = await uow.now() + timedelta(seconds=buffer)
            await seats.reserve_for_waitlist(uow, appointment.slot_id, until)
        await uow.answer(cancelled)
        return cancelled

    return await uow.run(work)


@dataclass(frozen=True)
class Quote:
    """What cancelling now would cost its client, and the policy that says so."""

    appointment_id: uuid.UUID
    fee_cents: int
    currency: str | None
    policy: Mapping[str, Any]  # the policy as the API shows it
    quoted_at: datetime


async def quote(uow: UnitOfWork, appointment_id: uuid.UUID, who: Caller) -> Quote:
    """What cancelling now would cost its client, and the policy that says so."""

    async def work(uow: UnitOfWork) -> Quote:
        appointment = await uow.appointments.get(appointment_id)
        if appointment is None or not await acting.is_its_client(uow, who, appointment):
            raise NotFound("No such appointment.")
        state_of(appointment.status).next_for("cancel")
        price, policy = await uow.appointments.cancellation_terms(appointment.service_id)
        now = await uow.now()
        fee = 0 if waives_fee("client", appointment.status) else policy.fee(price, appointment.starts_at, now)
        return Quote(appointment.id, fee, appointment.currency, policy.describe(), now)

    return await uow.run(work, transaction=False)


# --- confirmation and expiry ----------------------------------------------------------------------------------------


async def confirm(uow: UnitOfWork, lock: SlotLock | None, appointment_id: uuid.UUID, who: Caller) -> Appointment:
    """Its client confirms a hold: `confirmed`, or `410 hold_expired` once the deadline (database clock) passed.

    The common case is one read and one statement (`_confirm_in_one_write`); a hold past its deadline, one changed
    since it was read, and a confirmation whose answer is stored with it (Idempotency-Key) take the transaction."""
    if not uow.stores_answer:
        confirmed = await uow.run(lambda uow: _confirm_in_one_write(uow, lock, appointment_id, who),
                                  transaction=False)
        if confirmed is not None:
            return confirmed

    async def work(uow: UnitOfWork) -> Appointment:
        appointment = await acting.locked_for(uow, appointment_id, who, acting.is_its_client)
        acting.refuse_expired(appointment)
        state_of(appointment.status).next_for("confirm")
        if await acting.hold_has_expired(uow, appointment):
            return await acting.expire_then_refuse(uow, lock, appointment, "confirmation")
        confirmed = await transition(uow, appointment, "confirm", who, None, lock_token=None, hold_expires_at=None)
        await uow.slots.convert_held_seat(appointment.slot_id)
        uow.record(await seats.appointment_event(uow, APPOINTMENT_CONFIRMED, confirmed))
        await uow.answer(confirmed)
        seats.release_lock_after_commit(uow, lock, appointment)
        return confirmed

    return await uow.run(work)


async def _confirm_in_one_write(
    uow: UnitOfWork, lock: SlotLock | None, appointment_id: uuid.UUID, who: Caller
) -> Appointment | None:
    """The confirmed appointment (its slot lock freed after); None when the transactional path must decide."""
    found = await uow.appointments.to_act_on(appointment_id)
    if found is None or not await acting.is_its_client(uow, who, found.appointment):
        raise NotFound("No such appointment.")
    hold = found.appointment
    acting.refuse_expired(hold)
    status = state_of(hold.status).next_for("confirm")
    assert hold.hold_expires_at is not None  # set on every hold
    if hold.hold_expires_at <= found.now:
        return None  # expired for good in a transaction, then 410
    confirmed = hold.as_row() | {"status": status, "hold_expires_at": None}
    event = seats.appointment_event_from(APPOINTMENT_CONFIRMED, confirmed, found.context)
    written = await uow.appointments.confirm_hold(hold, status, (who.user_id, who.role), event)
    if written is None:
        return None
    uow.wrote_to_outbox()
    metrics.TRANSITIONS.labels(to_status=status).inc()
    seats.release_lock_after_commit(uow, lock, hold)
    return written


# --- completion and no-show -----------------------------------------------------------------------------------------


async def _started(uow: UnitOfWork, appointment: Appointment, action: str) -> datetime:
    """The database time, once the state allows `action` and the appointment has started."""
    state_of(appointment.status).next_for(action)
    now = await uow.now()
    if appointment.starts_at > now:
        raise InvalidTransition(f"Cannot {action.replace('_', ' ')} an appointment that has not started yet.")
    return now


async def complete(uow: UnitOfWork, appointment_id: uuid.UUID, who: Caller) -> Appointment:
    """Its provider or an admin marks a confirmed appointment that has started as `completed`."""

    async def work(uow: UnitOfWork) -> Appointment:
        appointment = await acting.locked_for(uow, appointment_id, who, acting.is_its_provider_or_admin)
        now = await _started(uow, appointment, "complete")
        completed = await transition(uow, appointment, "complete", who, None, completed_at=now)
        uow.record(await seats.appointment_event(uow, APPOINTMENT_COMPLETED, completed))
        await uow.answer(completed)
        return completed

    return await uow.run(work)


async def mark_no_show(
    uow: UnitOfWork, appointment_id: uuid.UUID, who: Caller, reason: str | None = None
) -> Appointment:
    """Its provider or an admin records that the client of a started, confirmed appointment did not come.

    Like a completion, the seat stays taken (the time has passed; nobody else could have used it) and the slot is not
    released; `appointment.no_show` tells the notifier to drop the pending reminders and analytics to count it.
    """

    async def work(uow: UnitOfWork) -> Appointment:
        appointment = await acting.locked_for(uow, appointment_id, who, acting.is_its_provider_or_admin)
        await _started(uow, appointment, "mark_no_show")
        marked = await transition(uow, appointment, "mark_no_show", who, reason)
        uow.record(await seats.appointment_event(uow, APPOINTMENT_NO_SHOW, marked))
        await uow.answer(marked)
        return marked

    return await uow.run(work)
