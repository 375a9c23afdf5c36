"""The appointment lifecycle after the hold: confirm, cancel, complete, no-show, reschedule, and the fee quote.

Every use case is one transaction (`in_transaction`): the appointment row is locked first, `transition` applies the
State pattern's verdict with a compare-and-set and an audit row, and the events go to the outbox in that same
transaction. Redis locks are released only after the commit, so no rival can slip in before the change is visible.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from booking import metrics
from booking.adapters import repository as repo
from booking.adapters.slot_lock import SlotLock
from booking.domain.appointment import state_of
from booking.domain.errors import InvalidTransition, NotFound
from booking.domain.policies import CancellationPolicy, policy_from, waives_fee
from booking.service_layer import access, acting, seats
from booking.service_layer.transitions import transition
from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_NO_SHOW,
)
from smartslot_common.db import Connection, fetch_one
from smartslot_common.http.identity import Caller
from smartslot_common.logging import get_logger
from smartslot_common.messaging import add_to_outbox, outbox_row

log = get_logger(__name__)
PRODUCER = "booking"
MAX_REASON = 500
OnCommit = Callable[[Connection, Any], Awaitable[None]]
Access = Callable[[Connection, Caller, asyncpg.Record], Awaitable[bool]]


# --- cancellation (also used by time off, inside its own transaction) ---------------------------------------------


def _actor_role(actor: Caller | None) -> str:
    return actor.role if actor is not None else seats.SYSTEM


async def _service_terms(connection: Connection, service_id: uuid.UUID) -> tuple[int, CancellationPolicy]:
    """The service's price and its cancellation policy."""
    # A service is only ever soft-deleted, and appointments reference it: the row is always there.
    row = await fetch_one(connection, "SELECT price_cents, cancellation_policy FROM services WHERE id = $1", service_id)
    spec = row["cancellation_policy"]
    return row["price_cents"], policy_from(orjson.loads(spec) if isinstance(spec, str | bytes) else spec)


async def _fee(connection: Connection, row: asyncpg.Record, role: str, at: datetime) -> int:
    if waives_fee(role, row["status"]):
        return 0
    price, policy = await _service_terms(connection, row["service_id"])
    return policy.fee(price, row["starts_at"], at)


async def cancel_within(
    connection: Connection, appointment_row: asyncpg.Record, actor: Caller | None, reason: str | None,
    waive_fee: bool, announce_release: bool = True,
) -> asyncpg.Record:
    """Cancel a row read with `repo.lock_appointment`, inside the caller's transaction.

    Charges the service's policy fee only when a client cancels a confirmed appointment (never with `waive_fee`),
    gives the seat back, raises the calendar sequence and writes `appointment.cancelled` + `slot.released`. The
    caller frees the row's Redis lock after its commit (`seats.release_lock`). `announce_release=False` is for a
    caller withdrawing the slot itself (time off), where offering the freed seat to anyone would be a false promise.
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
    sequence = await acting.next_sequence(connection, row["id"])
    await add_to_outbox(connection, await seats.appointment_event(
        connection, APPOINTMENT_CANCELLED, cancelled, fee_cents=fee, currency=cancelled["currency"], cancelled_by=role,
        reason=reason, ics_sequence=sequence,
    ))
    await seats.give_back_seat(connection, row, role, announce_release)
    return cancelled


async def cancel(
    pool: asyncpg.Pool, lock: SlotLock | None, appointment_id: uuid.UUID, who: Caller, reason: str | None,
    on_commit: OnCommit | None = None, waitlist_buffer_seconds: int = 0,
) -> asyncpg.Record:
    """Its client, its provider or an admin cancels; only the client of a confirmed appointment pays a fee.

    A seat freed by the provider or an admin first goes to the waitlist: the slot stays out of the public pool for
    `waitlist_buffer_seconds` (the waitlist hands it back sooner when nobody is waiting).
    """

    async def work(connection: Connection) -> acting.Outcome:
        row = await acting.locked_for(connection, appointment_id, who, access.may_see_appointment)
        cancelled = await cancel_within(connection, row, who, reason, waive_fee=False)
        if who.role in ("provider", "admin") and waitlist_buffer_seconds and row["status"] in seats.SEAT:
            until = await repo.database_now(connection) + timedelta(seconds=waitlist_buffer_seconds)
            await seats.reserve_for_waitlist(connection, row["slot_id"], until)
        await acting.answered(on_commit, connection, cancelled)
        return acting.Outcome(cancelled, ((row["slot_id"], row["lock_token"]),))

    return await acting.run(pool, lock, work)


async def quote(pool: asyncpg.Pool, appointment_id: uuid.UUID, who: Caller) -> dict[str, Any]:
    """What cancelling now would cost its client, and the policy that says so."""
    async with pool.acquire() as connection:
        row = await repo.get_appointment(connection, appointment_id)
        if row is None or not await acting.is_its_client(connection, who, row):
            raise NotFound("No such appointment.")
        state_of(row["status"]).next_for("cancel")
        price, policy = await _service_terms(connection, row["service_id"])
        now = await repo.database_now(connection)
        fee = 0 if waives_fee("client", row["status"]) else policy.fee(price, row["starts_at"], now)
    return {"fee_cents": fee, "currency": row["currency"], "policy": policy.describe(),
            "appointment_id": row["id"], "quoted_at": now}


# --- confirmation and expiry ----------------------------------------------------------------------------------------


async def _convert_held_seat(connection: Connection, slot_id: uuid.UUID) -> None:
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
    """Its client confirms a hold: `confirmed`, or `410 hold_expired` once the deadline (database clock) passed.

    The common case is one read and one statement (`_confirm_in_one_write`); a hold past its deadline, one changed
    since it was read, and a confirmation whose answer is stored with it (Idempotency-Key) take the transaction."""
    if on_commit is None and (done := await _confirm_in_one_write(pool, appointment_id, who)) is not None:
        confirmed, token = done
        await seats.release_lock(lock, confirmed["slot_id"], token)
        return confirmed

    async def work(connection: Connection) -> acting.Outcome:
        row = await acting.locked_for(connection, appointment_id, who, acting.is_its_client)
        acting.refuse_expired(row)
        state_of(row["status"]).next_for("confirm")
        if await acting.hold_has_expired(connection, row):
            return await acting.expired_outcome(connection, row, "confirmation")
        confirmed = await transition(connection, row, "confirm", who, None, lock_token=None, hold_expires_at=None)
        await _convert_held_seat(connection, row["slot_id"])
        await add_to_outbox(connection, await seats.appointment_event(connection, APPOINTMENT_CONFIRMED, confirmed))
        await acting.answered(on_commit, connection, confirmed)
        return acting.Outcome(confirmed, ((row["slot_id"], row["lock_token"]),))

    return await acting.run(pool, lock, work)


async def _confirm_in_one_write(
    pool: asyncpg.Pool, appointment_id: uuid.UUID, who: Caller
) -> tuple[asyncpg.Record, str | None] | None:
    """The confirmed row and the Redis lock token to free after it; None when the transactional path must decide."""
    async with pool.acquire() as connection:
        found = await repo.appointment_to_act_on(connection, appointment_id)
        if found is None or not await acting.is_its_client(connection, who, found.row):
            raise NotFound("No such appointment.")
        acting.refuse_expired(found.row)
        status = state_of(found.row["status"]).next_for("confirm")
        if found.row["hold_expires_at"] <= found.now:
            return None  # expired for good in a transaction, then 410
        confirmed = found.row | {"status": status, "hold_expires_at": None}
        event = seats.appointment_event_from(APPOINTMENT_CONFIRMED, confirmed, found.context)
        row = await repo.confirm_hold(connection, found.row, status, (who.user_id, who.role), outbox_row(event))
    if row is None:
        return None
    metrics.TRANSITIONS.labels(to_status=status).inc()
    return row, found.row["lock_token"]


# --- completion and no-show -----------------------------------------------------------------------------------------


async def _started(connection: Connection, row: asyncpg.Record, action: str) -> datetime:
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

    async def work(connection: Connection) -> acting.Outcome:
        row = await acting.locked_for(connection, appointment_id, who, acting.is_its_provider_or_admin)
        now = await _started(connection, row, "complete")
        completed = await transition(connection, row, "complete", who, None, completed_at=now)
        await add_to_outbox(connection, await seats.appointment_event(connection, APPOINTMENT_COMPLETED, completed))
        await acting.answered(on_commit, connection, completed)
        return acting.Outcome(completed)

    return await acting.run(pool, None, work)


async def mark_no_show(
    pool: asyncpg.Pool, appointment_id: uuid.UUID, who: Caller, reason: str | None = None,
    on_commit: OnCommit | None = None,
) -> asyncpg.Record:
    """Its provider or an admin records that the client of a started, confirmed appointment did not come.

    Like a completion, the seat stays taken (the time has passed; nobody else could have used it) and the slot is not
    released; `appointment.no_show` tells the notifier to drop the pending reminders and analytics to count it.
    """

    async def work(connection: Connection) -> acting.Outcome:
        row = await acting.locked_for(connection, appointment_id, who, acting.is_its_provider_or_admin)
        await _started(connection, row, "mark_no_show")
        marked = await transition(connection, row, "mark_no_show", who, reason)
        await add_to_outbox(connection, await seats.appointment_event(connection, APPOINTMENT_NO_SHOW, marked))
        await acting.answered(on_commit, connection, marked)
        return acting.Outcome(marked)

    return await acting.run(pool, None, work)
