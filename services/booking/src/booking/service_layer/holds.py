"""Getting a seat: the Redis lock first (speed), then one transaction with a compare-and-set (correctness).

Holds, instant bookings and the waitlist's holds take one path. The slot's lock is won as a short gate; one
transaction runs the validation chain, expires overdue holds of a full slot (so a slot never waits for the
sweeper), takes the seat by compare-and-set on the slot's version and writes the appointment, its audit rows and its
event. After commit a one-seat hold keeps the lock until its deadline, so the next client is turned away by Redis
alone; every other claim gives the gate back at once, so a slot's other seats stay bookable.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import asyncpg

from booking import metrics
from booking.adapters import repository as repo
from booking.adapters.slot_lock import HeldLock, SlotLock
from booking.domain.appointment import state_of
from booking.domain.errors import HoldQuota, SlotUnavailable
from booking.domain.slot import Slot, validate_bookable
from booking.service_layer import seats
from smartslot_common.contracts.events import APPOINTMENT_CONFIRMED, APPOINTMENT_LOCKED
from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging import add_to_outbox, outbox_row
from smartslot_common.unit_of_work import in_transaction

log = get_logger(__name__)
CAS_ATTEMPTS = 3  # a compare-and-set lost to another seat of a roomy slot is worth another go
OnCommit = Callable[[Connection, Any], Awaitable[None]]


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
    appointment: asyncpg.Record
    keeps_lock: bool
    lock_ttl_ms: int
    started: float  # monotonic, taken just before the database clock was read: the lock never outlives the hold


async def place_hold(
    pool: asyncpg.Pool, lock: SlotLock | None, policy: HoldPolicy, command: PlaceHold, on_commit: OnCommit | None = None
) -> asyncpg.Record:
    """Claim one seat: `locked` until `hold_expires_at` (database clock), or `confirmed` at once for `BookNow`."""
    held = await seats.acquire_lock(lock, command.slot_id, policy.gate_seconds, command.public)
    try:
        claimed = await _claim_in_one_write(pool, lock, policy, command, held, on_commit)
        if claimed is None:  # the slot is full (overdue holds to expire first) or changed since it was read
            claimed = await in_transaction(
                pool, lambda connection: _claim(connection, policy, command, held, on_commit))
    except BaseException:
        await _give_back(lock, held)
        raise
    await _settle_lock(lock, held, claimed)
    if command.instant:
        metrics.INSTANT_BOOKINGS.inc()
    else:
        metrics.HOLDS.labels(origin=command.origin).inc()
    return claimed.appointment


async def _give_back(lock: SlotLock | None, held: HeldLock | None) -> None:
    if held is not None and lock is not None:
        await lock.release(held)


async def _settle_lock(lock: SlotLock | None, held: HeldLock | None, claimed: _Claimed) -> None:
    """After commit: a one-seat hold keeps the lock until its deadline; any other claim gives the gate back."""
    if held is None or lock is None:
        return
    if not claimed.keeps_lock:
        await lock.release(held)
        return
    remaining_ms = claimed.lock_ttl_ms - int((time.monotonic() - claimed.started) * 1000)
    if remaining_ms > 0 and await lock.extend(held, remaining_ms):
        return
    # The gate ran out before commit (or Redis went away): the next client simply reaches PostgreSQL and is refused.
    metrics.HOLD_LOCKS_LOST.inc()
    log.warning("hold_lock_not_kept", key=held.key)
    await lock.release(held)


async def _claim_in_one_write(
    pool: asyncpg.Pool, lock: SlotLock | None, policy: HoldPolicy, command: PlaceHold, held: HeldLock | None,
    on_commit: OnCommit | None,
) -> _Claimed | None:
    """The common claim in two round trips: one read (slot, clock, event context), one statement that takes the seat
    by compare-and-set and writes the appointment, its audit rows and its event. A client's hold counts against
    their quota first, and a claim whose answer is stored with it (Idempotency-Key, the assignment cursor) runs in a
    transaction for that; an instant booking needs none. None when the slot changed since it was read, or is full
    with holds overdue: the caller then takes the transactional path, which expires them and reads again."""
    if (command.public and not command.instant) or on_commit is not None:
        return await in_transaction(
            pool, lambda connection: _write_claim(connection, lock, policy, command, held, on_commit))
    async with pool.acquire() as connection:
        return await _write_claim(connection, lock, policy, command, held, None)


async def _write_claim(
    connection: Connection, lock: SlotLock | None, policy: HoldPolicy, command: PlaceHold, held: HeldLock | None,
    on_commit: OnCommit | None,
) -> _Claimed | None:
    started = time.monotonic()
    if command.public and not command.instant:
        await _within_quota(connection, command.client_id, policy.max_live_holds)
    found = await repo.slot_to_claim(connection, command.slot_id)
    full = found.slot is not None and found.slot.status == "open" and found.slot.remaining <= 0
    if full and found.overdue_holds:
        return None
    try:
        slot = validate_bookable(found.slot, found.now)
        _refuse_reserved(command.public, found.reserved_until, found.now)
    except SlotUnavailable:
        metrics.CONFLICTS.labels(stage="database").inc()
        if full and lock is not None and command.public:
            lock.remember_full(command.slot_id)
        raise
    ttl_seconds = command.ttl_seconds or policy.ttl_seconds
    lock_token = held.token if held is not None and not command.instant and slot.capacity == 1 else None
    keeps_lock = lock_token is not None
    values = _new_appointment(command, slot, found.context, found.now + timedelta(seconds=ttl_seconds),
                              lock_token)
    steps = _steps(command)
    event = seats.appointment_event_from(_event_type(command), values, found.context)
    try:
        appointment = await repo.take_seat_with_appointment(
            connection, slot, _counter(command), values, steps, _actor(command), outbox_row(event))
    except asyncpg.UniqueViolationError:  # appointments_live_client_slot: one live seat per client and slot
        raise SlotUnavailable("You already have a seat in this slot.") from None
    if appointment is None:
        return None
    _count_transitions(command, steps)
    if on_commit is not None:
        await on_commit(connection, appointment)
    return _Claimed(appointment, keeps_lock, ttl_seconds * 1000, started)


def _counter(command: PlaceHold) -> str:
    return "booked" if command.instant else "held"


def _event_type(command: PlaceHold) -> str:
    return APPOINTMENT_CONFIRMED if command.instant else APPOINTMENT_LOCKED


async def _claim(
    connection: Connection, policy: HoldPolicy, command: PlaceHold, held: HeldLock | None,
    on_commit: OnCommit | None,
) -> _Claimed:
    started = time.monotonic()
    now = await repo.database_now(connection)
    if command.public and not command.instant:
        await _within_quota(connection, command.client_id, policy.max_live_holds)
    slot = await claim_seat(connection, command.slot_id, _counter(command), now, command.public)
    ttl_seconds = command.ttl_seconds or policy.ttl_seconds
    lock_token = held.token if held is not None and not command.instant and slot.capacity == 1 else None
    keeps_lock = lock_token is not None
    context = await repo.appointment_context(connection, slot.provider_id, slot.service_id)
    appointment = await _insert(
        connection, command, slot, context, now + timedelta(seconds=ttl_seconds), lock_token
    )
    await add_to_outbox(connection, seats.appointment_event_from(_event_type(command), appointment, context))
    if on_commit is not None:
        await on_commit(connection, appointment)
    return _Claimed(appointment, keeps_lock, ttl_seconds * 1000, started)


async def _within_quota(connection: Connection, client_id: uuid.UUID, limit: int) -> None:
    """`hold_quota` at `limit` live holds; concurrent holds of one client are serialised so both cannot pass."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"booking.holds:{client_id}")
    if await repo.count_live_holds(connection, client_id) >= limit:
        raise HoldQuota(f"At most {limit} holds at a time; confirm or release one first.")


async def claim_seat(
    connection: Connection, slot_id: uuid.UUID, counter: str, now: datetime, public: bool = True
) -> Slot:
    """Take one `held` or `booked` seat by compare-and-set after the validation chain, inside the caller's transaction.

    A full slot first has its overdue holds expired (lazy expiry); a public claim refuses a slot the waitlist has
    first call on.
    """
    try:
        for _ in range(CAS_ATTEMPTS):
            slot = await _bookable(connection, slot_id, now, public)
            if await repo.take_seat(connection, slot, counter):
                return slot
        raise SlotUnavailable("This time slot is no longer available.")
    except SlotUnavailable:
        metrics.CONFLICTS.labels(stage="database").inc()
        raise


async def _bookable(connection: Connection, slot_id: uuid.UUID, now: datetime, public: bool) -> Slot:
    """The slot after the chain (exists, live, not full, not started), and not reserved for a public claim."""
    slot, reserved_until = await _read_slot(connection, slot_id)
    if slot is not None and slot.status == "open" and slot.remaining <= 0:
        # Read again even when this call expired nothing: the wait for the holds' row locks may have been for a
        # concurrent confirm or sweep that freed the seat itself, and the first read no longer says so.
        await expire_overdue_holds(connection, slot_id)
        slot, reserved_until = await _read_slot(connection, slot_id)
    slot = validate_bookable(slot, now)
    _refuse_reserved(public, reserved_until, now)
    return slot


def _refuse_reserved(public: bool, reserved_until: datetime | None, now: datetime) -> None:
    """A public claim may not take a slot the waitlist has first call on."""
    if public and reserved_until is not None and reserved_until > now:
        raise SlotUnavailable("This slot is offered to the waitlist first; try again later.")


async def _read_slot(connection: Connection, slot_id: uuid.UUID) -> tuple[Slot | None, datetime | None]:
    row = await connection.fetchrow(f"SELECT {repo.SLOT_COLUMNS}, reserved_until FROM slots WHERE id = $1", slot_id)
    if row is None:
        return None, None
    fields = dict(row)
    reserved_until = fields.pop("reserved_until")
    return Slot(**fields), reserved_until


async def expire_overdue_holds(connection: Connection, slot_id: uuid.UUID) -> int:
    """Expire the slot's holds past their deadline (database clock) and give their seats back; how many there were."""
    rows = await connection.fetch(
        f"SELECT {repo.APPOINTMENT_COLUMNS}, version, lock_token FROM appointments "
        "WHERE slot_id = $1 AND status = 'locked' AND hold_expires_at <= clock_timestamp() ORDER BY id FOR UPDATE",
        slot_id,
    )
    for row in rows:
        await seats.expire_within(connection, row)
    metrics.LAZY_EXPIRIES.inc(len(rows))
    return len(rows)


async def _insert(
    connection: Connection, command: PlaceHold, slot: Slot, context: dict[str, Any], deadline: datetime,
    lock_token: str | None,
) -> asyncpg.Record:
    """The appointment with its first audit rows (statement by statement, inside the caller's transaction)."""
    steps = _steps(command)
    try:
        appointment = await repo.insert_appointment(
            connection, _new_appointment(command, slot, context, deadline, lock_token))
    except asyncpg.UniqueViolationError:  # appointments_live_client_slot: one live seat per client and slot
        raise SlotUnavailable("You already have a seat in this slot.") from None
    await repo.record_first_transitions(connection, appointment["id"], steps, *_actor(command))
    _count_transitions(command, steps)
    return appointment


def _steps(command: PlaceHold) -> list[tuple[str | None, str]]:
    """The statuses a new appointment passes through: `locked`, or for an instant booking `locked` then `confirmed`
    at once (the State pattern still decides that a hold may be confirmed)."""
    steps: list[tuple[str | None, str]] = [(None, "locked")]
    if command.instant:
        steps.append(("locked", state_of("locked").next_for("confirm")))
    return steps


def _new_appointment(
    command: PlaceHold, slot: Slot, context: dict[str, Any], deadline: datetime, lock_token: str | None
) -> dict[str, Any]:
    """The new appointment's columns, in the status its steps end in."""
    return {
        "id": uuid.uuid4(), "slot_id": slot.id, "provider_id": slot.provider_id, "service_id": slot.service_id,
        "client_id": command.client_id, "status": _steps(command)[-1][1], "starts_at": slot.starts_at,
        "ends_at": slot.ends_at, "hold_expires_at": None if command.instant else deadline,
        "origin": command.origin, "assignment": command.assignment,
        "assignment_reason": command.assignment_reason, "lock_token": lock_token,
        "client_email": command.client_email, "client_name": command.client_name,
        "currency": context.get("currency"),
    }


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
