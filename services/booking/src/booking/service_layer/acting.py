"""Acting on one appointment: lock its row, check the caller may act, run the transaction, answer after commit.

Every use case on an existing appointment (confirm, cancel, complete, no-show, reschedule) follows the same shape:
the row is locked first, a refusal that must still commit (an expired hold) is answered only after the commit, and
Redis locks are freed only once the change is visible.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from booking.adapters import repository as repo
from booking.adapters.slot_lock import SlotLock
from booking.domain.errors import BookingError, HoldExpired, NotFound
from booking.service_layer import access, seats
from smartslot_common.db import Connection, ConnectionOrPool, fetch_value
from smartslot_common.http.identity import Caller
from smartslot_common.rows import Row
from smartslot_common.unit_of_work import in_transaction

OnCommit = Callable[[Connection, Any], Awaitable[None]]
Access = Callable[[Connection, Caller, asyncpg.Record], Awaitable[bool]]


@dataclass(frozen=True)
class Outcome:
    """What a transaction decided: the row, the Redis locks to free after commit, and a refusal to answer with
    once the commit is done (a refusal that must not roll back what was written, such as an expired hold)."""

    row: asyncpg.Record
    locks: tuple[tuple[uuid.UUID, str | None], ...] = ()
    refusal: BookingError | None = None


async def is_its_client(_: ConnectionOrPool, who: Caller, row: Row) -> bool:
    """Only the client the appointment belongs to."""
    return who.role == "client" and row["client_id"] == who.user_id


async def is_its_provider_or_admin(connection: Connection, who: Caller, row: asyncpg.Record) -> bool:
    """The provider the appointment is with, or an admin."""
    if who.is_admin:
        return True
    return who.role == "provider" and await access.provider_of_user(connection, who.user_id) == row["provider_id"]


async def locked_for(
    connection: Connection, appointment_id: uuid.UUID, who: Caller, may: Access
) -> asyncpg.Record:
    """The appointment, locked for this transaction; `404` when it does not exist or the caller may not act."""
    row = await repo.lock_appointment(connection, appointment_id)
    if row is None or not await may(connection, who, row):
        raise NotFound("No such appointment.")
    return row


async def run(
    pool: asyncpg.Pool, lock: SlotLock | None, work: Callable[[Connection], Awaitable[Outcome]]
) -> asyncpg.Record:
    """Run `work` in one transaction; after the commit free its Redis locks, then answer its refusal if any."""
    outcome = await in_transaction(pool, work)
    for slot_id, token in outcome.locks:
        await seats.release_lock(lock, slot_id, token)
    if outcome.refusal is not None:
        raise outcome.refusal
    return outcome.row


async def answered(on_commit: OnCommit | None, connection: Connection, row: asyncpg.Record) -> None:
    if on_commit is not None:
        await on_commit(connection, row)


async def next_sequence(connection: Connection, appointment_id: uuid.UUID) -> int:
    """Raise the calendar SEQUENCE: calendar clients replace an event only when it grows."""
    return await fetch_value(
        connection, int,
        "UPDATE appointments SET ics_sequence = ics_sequence + 1 WHERE id = $1 RETURNING ics_sequence", appointment_id,
    )


async def hold_has_expired(connection: Connection, row: asyncpg.Record) -> bool:
    status: str = row["status"]
    if status != "locked":
        return False
    expires_at: datetime = row["hold_expires_at"]  # set on every locked appointment
    return expires_at <= await repo.database_now(connection)


def refuse_expired(row: Row) -> None:
    # Whoever expired it first (the sweeper, a rival's claim, an earlier call), its client hears the same 410.
    if row["status"] == "expired":
        raise HoldExpired("The hold expired before it was confirmed; hold the slot again.")


async def expired_outcome(connection: Connection, row: asyncpg.Record, action: str) -> Outcome:
    """Expire the hold for good (committed), then answer `410 hold_expired`."""
    expired = await seats.expire_within(connection, row, f"hold deadline passed before {action}")
    refusal = HoldExpired("The hold expired before it was confirmed; hold the slot again.")
    return Outcome(expired, ((row["slot_id"], row["lock_token"]),), refusal)
