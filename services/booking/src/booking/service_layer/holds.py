"""Getting a seat: a gate first (speed), then one transaction with a compare-and-set (correctness).

Holds, instant bookings and the waitlist's holds take one path. A hold wins the slot's Redis lock as a short gate;
an instant booking, which keeps nothing after its request, takes its turn among this process's claims on the slot
instead (no Redis round trip). One transaction runs the validation chain, expires overdue holds of a full slot (so a
slot never waits for the sweeper), takes the seat by compare-and-set on the slot's version and writes the
appointment, its audit rows and its event. After commit a one-seat hold keeps the lock until its deadline, so the
next client is turned away by Redis alone; every other claim gives the gate back at once, so a slot's other seats
stay bookable. A claim that took a slot's last seat leaves it remembered here as held or full for a moment.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from booking import metrics
from booking.adapters.slot_lock import FULL, HELD, SlotLock, SlotLockLease
from booking.domain.appointment import HOLD_STATUS, Appointment, EventContext, NewAppointment, state_of
from booking.domain.errors import NO_SEAT_LEFT, HoldQuota, SecondLiveSeat, SlotHeld, SlotUnavailable
from booking.domain.slot import Slot, validate_bookable
from booking.service_layer import seats
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.contracts.events import APPOINTMENT_CONFIRMED, APPOINTMENT_LOCKED
from smartslot_common.logging import get_logger

log = get_logger(__name__)
CAS_ATTEMPTS = 3  # a compare-and-set lost to another seat of a roomy slot is worth another go


@dataclass(frozen=True)
class PlaceHold:
    """A client (or the waitlist, for a client) asks to hold one seat of a slot while they confirm."""

    slot_id: uuid.UUID
    client_id: uuid.UUID
    origin: str = "client"
    ttl_seconds: int | None = None  # the waitlist's offer TTL; None means the policy's
    assignment: str = "chosen"
    assignment_reason: str | None = None
    client_email: str | None = None  # contact details as the gateway verified them, kept with the booking
    client_name: str | None = None
    instant: ClassVar[bool] = False

    @property
    def public(self) -> bool:
        """A client's own request obeys the hold quota and the waitlist's reservation; the waitlist's does not."""
        return self.origin == "client"


@dataclass(frozen=True)
class BookNow(PlaceHold):
    """A client books one seat at once: hold and confirm in one transaction."""

    instant: ClassVar[bool] = True


@dataclass(frozen=True)
class HoldPolicy:
    """How long holds last, how many live holds one client may have, and how long a claim may keep the gate."""

    ttl_seconds: int
    max_live_holds: int
    gate_seconds: float = 5.0


@dataclass(frozen=True)
class _Claimed:
    appointment: Appointment
    keeps_lock: bool
    lock_ttl_ms: int
    started: float  # monotonic, taken just before the database clock was read: the lock never outlives the hold


async def place_hold(uow: UnitOfWork, lock: SlotLock | None, policy: HoldPolicy, command: PlaceHold) -> Appointment:
    """Claim one seat: `locked` until `hold_expires_at` (database clock), or `confirmed` at once for `BookNow`."""
    if command.instant:  # keeps no lock after the request: claims on the slot take turns in this process
        async with seats.taking_turns(lock, command.slot_id, policy.gate_seconds):
            claimed = await _claim_either_way(uow, lock, policy, command, None)
        metrics.INSTANT_BOOKINGS.inc()
        return claimed.appointment
    lease = await seats.acquire_lock(lock, command.slot_id, policy.gate_seconds, command.public)
    try:
        claimed = await _claim_either_way(uow, lock, policy, command, lease)
    except BaseException:
        await _give_back(lock, lease)
        raise
    metrics.HOLDS.labels(origin=command.origin).inc()
    return claimed.appointment


async def _claim_either_way(
    uow: UnitOfWork, lock: SlotLock | None, policy: HoldPolicy, command: PlaceHold, lease: SlotLockLease | None
) -> _Claimed:
    claimed = await _claim_in_one_write(uow, lock, policy, command, lease)
    if claimed is None:  # the slot is full (overdue holds to expire first) or changed since it was read
        claimed = await uow.run(lambda uow: _claim(uow, lock, policy, command, lease))
    return claimed


async def _give_back(lock: SlotLock | None, lease: SlotLockLease | None) -> None:
    if lease is not None and lock is not None:
        await lock.release(lease)


def _settle_lock_after_commit(uow: UnitOfWork, lock: SlotLock | None, lease: SlotLockLease | None,
                              claimed: _Claimed, slot: Slot, command: PlaceHold) -> None:
    """After the commit: the lock kept or given back, and a slot whose last seat this claim took remembered as held
    or full, so the next public claims here are refused before Redis or PostgreSQL."""
    if lock is None:
        return
    if lease is not None:
        uow.after_commit(lambda: _settle_lock(lock, lease, claimed))
    if slot.remaining <= 1 and command.public:
        uow.after_commit(lambda: _remember(lock, slot.id, FULL if command.instant else HELD))


async def _remember(lock: SlotLock, slot_id: uuid.UUID, why: str) -> None:
    lock.remember(slot_id, why)


async def _settle_lock(lock: SlotLock, lease: SlotLockLease, claimed: _Claimed) -> None:
    """After commit: a one-seat hold keeps the lock until its deadline; any other claim gives the gate back."""
    if not claimed.keeps_lock:
        await lock.release(lease)
        return
    remaining_ms = claimed.lock_ttl_ms - int((time.monotonic() - claimed.started) * 1000)
    if remaining_ms > 0 and await lock.extend(lease, remaining_ms):
        return
    # The gate ran out before commit (or Redis went away): the next client simply reaches PostgreSQL and is refused.
    metrics.HOLD_LOCKS_LOST.inc()
    log.warning("hold_lock_not_kept", key=lease.key)
    await lock.release(lease)


async def _claim_in_one_write(
    uow: UnitOfWork, lock: SlotLock | None, policy: HoldPolicy, command: PlaceHold, lease: SlotLockLease | None
) -> _Claimed | None:
    """The common claim in two round trips: one read (slot, clock, event context), one statement that takes the seat
    by compare-and-set and writes the appointment, its audit rows and its event. A client's hold counts against
    their quota first, and a claim whose answer is stored with it (Idempotency-Key, the assignment cursor) runs in a
    transaction for that; an instant booking needs none. None when the slot changed since it was read, or is full
    with holds overdue: the caller then takes the transactional path, which expires them and reads again."""
    needs_transaction = (command.public and not command.instant) or uow.stores_answer
    return await uow.run(lambda uow: _write_claim(uow, lock, policy, command, lease), transaction=needs_transaction)


async def _write_claim(
    uow: UnitOfWork, lock: SlotLock | None, policy: HoldPolicy, command: PlaceHold, lease: SlotLockLease | None
) -> _Claimed | None:
    started = time.monotonic()
    if command.public and not command.instant:
        await _within_quota(uow, command.client_id, policy.max_live_holds)
    found = await uow.slots.to_claim(command.slot_id)
    full = found.slot is not None and found.slot.status == "open" and found.slot.remaining <= 0
    if full and found.overdue_holds:
        return None
    try:
        slot = validate_bookable(found.slot, found.now)
        _refuse_reserved(command.public, found.reserved_until, found.now)
    except (SlotHeld, SlotUnavailable) as refused:
        metrics.CONFLICTS.labels(stage="database").inc()
        if full and lock is not None and command.public:
            lock.remember(command.slot_id, HELD if isinstance(refused, SlotHeld) else FULL)
        raise
    ttl_seconds = command.ttl_seconds or policy.ttl_seconds
    lock_token = lease.token if lease is not None and not command.instant and slot.capacity == 1 else None
    new = _new_appointment(command, slot, found.context, found.now + timedelta(seconds=ttl_seconds), lock_token)
    steps = _steps(command)
    event = seats.appointment_event_from(_event_type(command), new.as_row(), found.context)
    try:
        appointment = await uow.slots.claim_with_appointment(
            slot, _counter(command), new, steps, _actor(command), event)
    except SecondLiveSeat:
        raise SlotUnavailable("You already have a seat in this slot.") from None
    if appointment is None:
        return None
    uow.wrote_to_outbox()
    _count_transitions(command, steps)
    if uow.stores_answer:
        await uow.answer(appointment)
    claimed = _Claimed(appointment, lock_token is not None, ttl_seconds * 1000, started)
    _settle_lock_after_commit(uow, lock, lease, claimed, slot, command)
    return claimed


def _counter(command: PlaceHold) -> str:
    return "booked" if command.instant else "held"


def _event_type(command: PlaceHold) -> str:
    return APPOINTMENT_CONFIRMED if command.instant else APPOINTMENT_LOCKED


async def _claim(
    uow: UnitOfWork, lock: SlotLock | None, policy: HoldPolicy, command: PlaceHold, lease: SlotLockLease | None
) -> _Claimed:
    started = time.monotonic()
    now = await uow.now()
    if command.public and not command.instant:
        await _within_quota(uow, command.client_id, policy.max_live_holds)
    slot = await claim_seat(uow, command.slot_id, _counter(command), now, command.public)
    ttl_seconds = command.ttl_seconds or policy.ttl_seconds
    lock_token = lease.token if lease is not None and not command.instant and slot.capacity == 1 else None
    context = await uow.appointments.event_context(slot.provider_id, slot.service_id)
    appointment = await _insert(uow, command, slot, context, now + timedelta(seconds=ttl_seconds), lock_token)
    uow.record(seats.appointment_event_from(_event_type(command), appointment.as_row(), context))
    await uow.answer(appointment)
    claimed = _Claimed(appointment, lock_token is not None, ttl_seconds * 1000, started)
    _settle_lock_after_commit(uow, lock, lease, claimed, slot, command)
    return claimed


async def _within_quota(uow: UnitOfWork, client_id: uuid.UUID, limit: int) -> None:
    """`hold_quota` at `limit` live holds; concurrent holds of one client are serialised so both cannot pass."""
    await uow.appointments.serialise_holds_of(client_id)
    if await uow.appointments.count_live_holds(client_id) >= limit:
        raise HoldQuota(f"At most {limit} holds at a time; confirm or release one first.")


async def claim_seat(uow: UnitOfWork, slot_id: uuid.UUID, counter: str, now: datetime, public: bool = True) -> Slot:
    """Take one `held` or `booked` seat by compare-and-set after the validation chain, inside the caller's transaction.

    A full slot first has its overdue holds expired (lazy expiry); a public claim refuses a slot the waitlist has
    first call on.
    """
    try:
        for _ in range(CAS_ATTEMPTS):
            slot = await _bookable(uow, slot_id, now, public)
            if await uow.slots.take_seat(slot, counter):
                return slot
        raise SlotUnavailable(NO_SEAT_LEFT)
    except (SlotHeld, SlotUnavailable):
        metrics.CONFLICTS.labels(stage="database").inc()
        raise


async def _bookable(uow: UnitOfWork, slot_id: uuid.UUID, now: datetime, public: bool) -> Slot:
    """The slot after the chain (exists, live, not full, not started), and not reserved for a public claim."""
    found, reserved_until = await uow.slots.get_with_reservation(slot_id)
    if found is not None and found.status == "open" and found.remaining <= 0:
        # Read again even when this call expired nothing: the wait for the holds' row locks may have been for a
        # concurrent confirm or sweep that freed the seat itself, and the first read no longer says so.
        await expire_overdue_holds(uow, slot_id)
        found, reserved_until = await uow.slots.get_with_reservation(slot_id)
    slot = validate_bookable(found, now)
    _refuse_reserved(public, reserved_until, now)
    return slot


def _refuse_reserved(public: bool, reserved_until: datetime | None, now: datetime) -> None:
    """A public claim may not take a slot the waitlist has first call on."""
    if public and reserved_until is not None and reserved_until > now:
        raise SlotUnavailable("This slot is offered to the waitlist first; try again later.")


async def expire_overdue_holds(uow: UnitOfWork, slot_id: uuid.UUID) -> int:
    """Expire the slot's holds past their deadline (database clock) and give their seats back; how many there were."""
    overdue = await uow.appointments.lock_overdue_holds(slot_id)
    for appointment in overdue:
        await seats.expire_within(uow, appointment)
    metrics.LAZY_EXPIRIES.inc(len(overdue))
    return len(overdue)


async def _insert(
    uow: UnitOfWork, command: PlaceHold, slot: Slot, context: EventContext, deadline: datetime,
    lock_token: str | None,
) -> Appointment:
    """The appointment with its first audit rows (statement by statement, inside the caller's transaction)."""
    steps = _steps(command)
    try:
        appointment = await uow.appointments.add(_new_appointment(command, slot, context, deadline, lock_token))
    except SecondLiveSeat:
        raise SlotUnavailable("You already have a seat in this slot.") from None
    await uow.appointments.record_first_transitions(appointment.id, steps, *_actor(command))
    _count_transitions(command, steps)
    return appointment


def _steps(command: PlaceHold) -> list[tuple[str | None, str]]:
    """The statuses a new appointment passes through: a hold, or for an instant booking a hold then `confirmed`
    at once (the State pattern still decides that a hold may be confirmed)."""
    steps: list[tuple[str | None, str]] = [(None, HOLD_STATUS)]
    if command.instant:
        steps.append((HOLD_STATUS, state_of(HOLD_STATUS).next_for("confirm")))
    return steps


def _new_appointment(
    command: PlaceHold, slot: Slot, context: EventContext, deadline: datetime, lock_token: str | None
) -> NewAppointment:
    """The new appointment, in the status its steps end in."""
    return NewAppointment(
        uuid.uuid4(), slot.id, slot.provider_id, slot.service_id, command.client_id, _steps(command)[-1][1],
        slot.starts_at, slot.ends_at, None if command.instant else deadline, command.origin, command.assignment,
        command.assignment_reason, lock_token, command.client_email, command.client_name, context.currency,
    )


def _actor(command: PlaceHold) -> tuple[uuid.UUID | None, str, str | None]:
    """Who the first audit rows name, and why: the client for their own claim, the system for an offer's."""
    actor_id, role = (command.client_id, "client") if command.public else (None, "system")
    return actor_id, role, _why(command)


def _count_transitions(command: PlaceHold, steps: list[tuple[str | None, str]]) -> None:
    if command.instant:
        metrics.TRANSITIONS.labels(to_status=steps[-1][1]).inc()


def _why(command: PlaceHold) -> str | None:
    """The audit reason of the first transition: plain client holds need none."""
    if command.instant:
        return "instant booking"
    return None if command.public else f"{command.origin} offer"
