"""The appointment lifecycle after the hold: confirm, cancel, complete, no-show, reschedule, and the fee quote.

Every use case is one transaction (`in_transaction`): the appointment row is locked first, `transition` applies the
State pattern's verdict with a compare-and-set and an audit row, and the events go to the outbox in that same
transaction. Redis locks are released only after the commit, so no rival can slip in before the change is visible.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from booking import metrics
from booking.adapters import repository as repo
from booking.adapters.slot_lock import HeldLock, LockUnavailable, SlotLock
from booking.domain.appointment import state_of
from booking.domain.errors import BookingError, HoldExpired, InvalidTransition, NotFound, SlotHeld, SlotUnavailable
from booking.domain.events import appointment_payload
from booking.domain.policies import CancellationPolicy, policy_from, waives_fee
from booking.domain.slot import Slot
from booking.service_layer import access, holds
from booking.service_layer.transitions import transition
from booking.service_layer.unit_of_work import in_transaction
from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_EXPIRED,
    APPOINTMENT_RESCHEDULED,
    SLOT_RELEASED,
)
from smartslot_common.http.identity import Caller
from smartslot_common.logging import get_logger
from smartslot_common.messaging import Event, add_to_outbox

log = get_logger(__name__)
PRODUCER = "booking"
SYSTEM = "system"
MAX_REASON = 500
OnCommit = Callable[[asyncpg.Connection, Any], Awaitable[None]]
Access = Callable[[asyncpg.Connection, Caller, asyncpg.Record], Awaitable[bool]]
# Which slot counter a live appointment occupies.
SEAT = {"locked": "held", "confirmed": "booked"}


@dataclass(frozen=True)
class _Outcome:
    """What a transaction decided: the row, the Redis locks to free after commit, and a refusal to answer with
    once the commit is done (a refusal that must not roll back what was written, such as an expired hold)."""

    row: asyncpg.Record
    locks: tuple[tuple[uuid.UUID, str | None], ...] = ()
    refusal: BookingError | None = None


# --- who may act ----------------------------------------------------------------------------------------------------


async def is_its_client(_: asyncpg.Connection, who: Caller, row: asyncpg.Record) -> bool:
    """Only the client the appointment belongs to."""
    return who.role == "client" and row["client_id"] == who.user_id


async def is_its_provider_or_admin(connection: asyncpg.Connection, who: Caller, row: asyncpg.Record) -> bool:
    """The provider the appointment is with, or an admin."""
    if who.is_admin:
        return True
    return who.role == "provider" and await access.provider_of_user(connection, who.user_id) == row["provider_id"]


async def _locked(
    connection: asyncpg.Connection, appointment_id: uuid.UUID, who: Caller, may: Access
) -> asyncpg.Record:
    """The appointment, locked for this transaction; `404` when it does not exist or the caller may not act."""
    row = await repo.lock_appointment(connection, appointment_id)
    if row is None or not await may(connection, who, row):
        raise NotFound("No such appointment.")
    return row


# --- after commit ---------------------------------------------------------------------------------------------------


async def release_lock(lock: SlotLock | None, slot_id: uuid.UUID, token: str | None) -> None:
    """Free the Redis lock a hold took on a slot; call after the commit (a no-op without lock or token)."""
    if lock is not None and token:
        await lock.release(HeldLock(lock.key(slot_id), token))


async def _run(
    pool: asyncpg.Pool, lock: SlotLock | None, work: Callable[[asyncpg.Connection], Awaitable[_Outcome]]
) -> asyncpg.Record:
    """Run `work` in one transaction; after the commit free its Redis locks, then answer its refusal if any."""
    outcome = await in_transaction(pool, work)
    for slot_id, token in outcome.locks:
        await release_lock(lock, slot_id, token)
    if outcome.refusal is not None:
        raise outcome.refusal
    return outcome.row


async def _answered(on_commit: OnCommit | None, connection: asyncpg.Connection, row: asyncpg.Record) -> None:
    if on_commit is not None:
        await on_commit(connection, row)


# --- events ---------------------------------------------------------------------------------------------------------


def slot_released(row: asyncpg.Record, released_by: str) -> Event:
    """`slot.released` for the seat `row` occupied; the waitlist reads `released_by` (client|provider|admin|system)
    to decide whether the slot first waits in its buffer window."""
    return Event.create(SLOT_RELEASED, {
        "slot_id": str(row["slot_id"]), "provider_id": str(row["provider_id"]), "service_id": str(row["service_id"]),
        "starts_at": row["starts_at"].isoformat(), "ends_at": row["ends_at"].isoformat(),
        "released_by": released_by, "appointment_id": str(row["id"]),
    }, PRODUCER)


def _appointment_event(kind: str, row: asyncpg.Record, **extra: Any) -> Event:
    return Event.create(kind, appointment_payload(row) | extra, PRODUCER)


async def _next_sequence(connection: asyncpg.Connection, appointment_id: uuid.UUID) -> int:
    """Raise the calendar SEQUENCE: calendar clients replace an event only when it grows."""
    return await connection.fetchval(
        "UPDATE appointments SET ics_sequence = ics_sequence + 1 WHERE id = $1 RETURNING ics_sequence", appointment_id
    )


# --- cancellation (also used by time off, inside its own transaction) ---------------------------------------------


def _actor_role(actor: Caller | None) -> str:
    return actor.role if actor is not None else SYSTEM


async def _service_terms(connection: asyncpg.Connection, service_id: uuid.UUID) -> tuple[int, CancellationPolicy]:
    """The service's price and its cancellation policy."""
    row = await connection.fetchrow("SELECT price_cents, cancellation_policy FROM services WHERE id = $1", service_id)
    spec = row["cancellation_policy"]
    return row["price_cents"], policy_from(orjson.loads(spec) if isinstance(spec, str | bytes) else spec)


async def _fee(connection: asyncpg.Connection, row: asyncpg.Record, role: str, at: datetime) -> int:
    if waives_fee(role, row["status"]):
        return 0
    price, policy = await _service_terms(connection, row["service_id"])
    return policy.fee(price, row["starts_at"], at)


async def cancel_within(
    connection: asyncpg.Connection, appointment_row: asyncpg.Record, actor: Caller | None, reason: str | None,
    waive_fee: bool,
) -> asyncpg.Record:
    """Cancel a row read with `repo.lock_appointment`, inside the caller's transaction.

    Charges the service's policy fee only when a client cancels a confirmed appointment (never with `waive_fee`),
    gives the seat back, raises the calendar sequence and writes `appointment.cancelled` + `slot.released`. The
    caller frees the row's Redis lock after its commit (`release_lock`).
    """
    row, role = appointment_row, _actor_role(actor)
    state_of(row["status"]).next_for("cancel")  # refuse before reading anything else
    now = await repo.database_now(connection)
    fee = 0 if waive_fee else await _fee(connection, row, role, now)
    reason = reason[:MAX_REASON] if reason else None
    cancelled = await transition(
        connection, row, "cancel", actor, reason,
        fee_cents=fee, cancelled_by=role, cancel_reason=reason, cancelled_at=now, lock_token=None,
    )
    sequence = await _next_sequence(connection, row["id"])
    await add_to_outbox(connection, _appointment_event(
        APPOINTMENT_CANCELLED, cancelled, fee_cents=fee, currency=cancelled["currency"], cancelled_by=role,
        reason=reason, ics_sequence=sequence,
    ))
    await _give_back_seat(connection, row, role)
    return cancelled


async def _give_back_seat(connection: asyncpg.Connection, row: asyncpg.Record, released_by: str) -> None:
    """Free the seat a live appointment occupied and say so; a draft occupies none."""
    if seat := SEAT.get(row["status"]):
        await repo.release_seat(connection, row["slot_id"], seat)
        await add_to_outbox(connection, slot_released(row, released_by))


async def cancel(
    pool: asyncpg.Pool, lock: SlotLock | None, appointment_id: uuid.UUID, who: Caller, reason: str | None,
    on_commit: OnCommit | None = None,
) -> asyncpg.Record:
    """Its client, its provider or an admin cancels; only the client of a confirmed appointment pays a fee."""

    async def work(connection: asyncpg.Connection) -> _Outcome:
        row = await _locked(connection, appointment_id, who, access.may_see_appointment)
        cancelled = await cancel_within(connection, row, who, reason, waive_fee=False)
        await _answered(on_commit, connection, cancelled)
        return _Outcome(cancelled, ((row["slot_id"], row["lock_token"]),))

    return await _run(pool, lock, work)


async def quote(pool: asyncpg.Pool, appointment_id: uuid.UUID, who: Caller) -> dict[str, Any]:
    """What cancelling now would cost its client, and the policy that says so."""
    async with pool.acquire() as connection:
        row = await repo.get_appointment(connection, appointment_id)
        if row is None or not await is_its_client(connection, who, row):
            raise NotFound("No such appointment.")
        state_of(row["status"]).next_for("cancel")
        price, policy = await _service_terms(connection, row["service_id"])
        now = await repo.database_now(connection)
        fee = 0 if waives_fee("client", row["status"]) else policy.fee(price, row["starts_at"], now)
    return {"fee_cents": fee, "currency": row["currency"], "policy": policy.describe(),
            "appointment_id": row["id"], "quoted_at": now}


# --- confirmation and expiry ----------------------------------------------------------------------------------------


async def expire_within(
    connection: asyncpg.Connection, appointment_row: asyncpg.Record, reason: str = "hold deadline passed"
) -> asyncpg.Record:
    """Expire a locked row (read with `repo.lock_appointment`) inside the caller's transaction: the held seat goes
    back, `appointment.expired` + `slot.released` (released_by `system`) go to the outbox."""
    row = appointment_row
    expired = await transition(connection, row, "expire", None, reason, lock_token=None)
    await add_to_outbox(connection, _appointment_event(APPOINTMENT_EXPIRED, expired))
    await _give_back_seat(connection, row, SYSTEM)
    return expired


async def _hold_has_expired(connection: asyncpg.Connection, row: asyncpg.Record) -> bool:
    return row["status"] == "locked" and row["hold_expires_at"] <= await repo.database_now(connection)


def _refuse_expired(row: asyncpg.Record) -> None:
    # Whoever expired it first (the sweeper, a rival's claim, an earlier call), its client hears the same 410.
    if row["status"] == "expired":
        raise HoldExpired("The hold expired before it was confirmed; hold the slot again.")


async def _expired_outcome(connection: asyncpg.Connection, row: asyncpg.Record, action: str) -> _Outcome:
    """Expire the hold for good (committed), then answer `410 hold_expired`."""
    expired = await expire_within(connection, row, f"hold deadline passed before {action}")
    refusal = HoldExpired("The hold expired before it was confirmed; hold the slot again.")
    return _Outcome(expired, ((row["slot_id"], row["lock_token"]),), refusal)


async def _convert_held_seat(connection: asyncpg.Connection, slot_id: uuid.UUID) -> None:
    # One relative update under the slot's row lock: the counters' CHECK refuses an impossible conversion.
    await connection.execute(
        "UPDATE slots SET held = held - 1, booked = booked + 1, version = version + 1, updated_at = now() "
        "WHERE id = $1",
        slot_id,
    )


async def confirm(
    pool: asyncpg.Pool, lock: SlotLock | None, appointment_id: uuid.UUID, who: Caller,
    on_commit: OnCommit | None = None,
) -> asyncpg.Record:
    """Its client confirms a hold: `confirmed`, or `410 hold_expired` once the deadline (database clock) passed."""

    async def work(connection: asyncpg.Connection) -> _Outcome:
        row = await _locked(connection, appointment_id, who, is_its_client)
        _refuse_expired(row)
        state_of(row["status"]).next_for("confirm")
        if await _hold_has_expired(connection, row):
            return await _expired_outcome(connection, row, "confirmation")
        confirmed = await transition(connection, row, "confirm", who, None, lock_token=None, hold_expires_at=None)
        await _convert_held_seat(connection, row["slot_id"])
        await add_to_outbox(connection, _appointment_event(APPOINTMENT_CONFIRMED, confirmed))
        await _answered(on_commit, connection, confirmed)
        return _Outcome(confirmed, ((row["slot_id"], row["lock_token"]),))

    return await _run(pool, lock, work)


# --- completion and no-show -----------------------------------------------------------------------------------------


async def _started(connection: asyncpg.Connection, row: asyncpg.Record, action: str) -> datetime:
    """The database time, once the state allows `action` and the appointment has started."""
    state_of(row["status"]).next_for(action)
    now = await repo.database_now(connection)
    if row["starts_at"] > now:
        raise InvalidTransition(f"Cannot {action.replace('_', ' ')} an appointment that has not started yet.")
    return now


async def complete(
    pool: asyncpg.Pool, appointment_id: uuid.UUID, who: Caller, on_commit: OnCommit | None = None
) -> asyncpg.Record:
    """Its provider or an admin marks a confirmed appointment that has started as `completed`."""

    async def work(connection: asyncpg.Connection) -> _Outcome:
        row = await _locked(connection, appointment_id, who, is_its_provider_or_admin)
        now = await _started(connection, row, "complete")
        completed = await transition(connection, row, "complete", who, None, completed_at=now)
        await add_to_outbox(connection, _appointment_event(APPOINTMENT_COMPLETED, completed))
        await _answered(on_commit, connection, completed)
        return _Outcome(completed)

    return await _run(pool, None, work)


async def mark_no_show(
    pool: asyncpg.Pool, appointment_id: uuid.UUID, who: Caller, reason: str | None = None,
    on_commit: OnCommit | None = None,
) -> asyncpg.Record:
    """Its provider or an admin records that the client of a started, confirmed appointment did not come.

    Internal only: the public API has no route for it, and there is no event type for it yet.
    """

    async def work(connection: asyncpg.Connection) -> _Outcome:
        row = await _locked(connection, appointment_id, who, is_its_provider_or_admin)
        await _started(connection, row, "mark_no_show")
        marked = await transition(connection, row, "mark_no_show", who, reason)
        await _answered(on_commit, connection, marked)
        return _Outcome(marked)

    return await _run(pool, None, work)


# --- reschedule -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reschedule:
    """A client moves their appointment to another slot of the same service."""

    appointment_id: uuid.UUID
    slot_id: uuid.UUID
    client: Caller
    lock_ttl_seconds: int


async def _acquire(lock: SlotLock | None, slot_id: uuid.UUID, ttl_seconds: int) -> HeldLock | None:
    """The Redis lock on the target slot, or `409 slot_held`; with Redis unable to vote, database-only mode."""
    if lock is None:
        return None
    try:
        held = await lock.acquire(slot_id, ttl_seconds * 1000)
    except LockUnavailable as error:
        log.warning("lock_unavailable_database_only", reason=str(error))
        metrics.LOCK_FALLBACKS.inc()
        return None
    if held is None:
        metrics.CONFLICTS.labels(stage="redis").inc()
        raise SlotHeld("Someone else is holding this slot right now.")
    return held


async def _claim_target(connection: asyncpg.Connection, row: asyncpg.Record, slot_id: uuid.UUID, now: datetime) -> Slot:
    """A seat of the same kind on another slot of the same service, taken by compare-and-set after the validation
    chain, exactly as a public hold claims one (a slot the waitlist has first call on is refused)."""
    if slot_id == row["slot_id"]:
        raise SlotUnavailable("The appointment is already on this slot.")
    slot = await holds.claim_seat(connection, slot_id, SEAT[row["status"]], now)
    if slot.service_id != row["service_id"]:  # raising rolls the claimed seat back with everything else
        raise SlotUnavailable("That slot offers another service.")
    return slot


async def _move(
    connection: asyncpg.Connection, row: asyncpg.Record, slot: Slot, who: Caller, token: str | None
) -> asyncpg.Record:
    """Give back the old seat and move the row onto the slot whose seat was claimed."""
    await repo.release_seat(connection, row["slot_id"], SEAT[row["status"]])
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
    connection: asyncpg.Connection, command: Reschedule, held: HeldLock | None, on_commit: OnCommit | None
) -> _Outcome:
    row = await _locked(connection, command.appointment_id, command.client, is_its_client)
    _refuse_expired(row)
    state_of(row["status"]).next_for("reschedule")
    if await _hold_has_expired(connection, row):
        return await _expired_outcome(connection, row, "rescheduling")
    now = await repo.database_now(connection)
    if row["starts_at"] <= now:
        raise InvalidTransition("Cannot reschedule an appointment that has already started.")
    slot = await _claim_target(connection, row, command.slot_id, now)
    # As with a new hold, a hold that fills the slot keeps its Redis lock (confirm frees it); otherwise the lock was
    # needed only for the move.
    fills = row["status"] == "locked" and slot.remaining == 1
    keep = held.token if held is not None and fills else None
    moved = await _move(connection, row, slot, command.client, keep)
    sequence = await _next_sequence(connection, row["id"])
    await add_to_outbox(
        connection,
        _appointment_event(APPOINTMENT_RESCHEDULED, moved, previous=_previous(row), ics_sequence=sequence),
        slot_released(row, command.client.role),
    )
    await _answered(on_commit, connection, moved)
    return _Outcome(moved, ((row["slot_id"], row["lock_token"]),))


async def reschedule(
    pool: asyncpg.Pool, lock: SlotLock | None, command: Reschedule, on_commit: OnCommit | None = None
) -> asyncpg.Record:
    """Move the appointment to another slot atomically: the same row, a seat of the same kind, the old one freed."""
    held = await _acquire(lock, command.slot_id, command.lock_ttl_seconds)
    try:
        row = await _run(pool, lock, lambda connection: _reschedule_within(connection, command, held, on_commit))
    except BaseException:
        if held is not None:
            await release_lock(lock, command.slot_id, held.token)
        raise
    if held is not None and row["lock_token"] != held.token:
        await release_lock(lock, command.slot_id, held.token)
    return row
