"""Time off: a provider's absence. The slots inside are blocked; booked appointments inside are refused
(`409 conflicting_appointments`, nothing written) unless the caller asks to cancel them, which happens fee-free in the
same transaction. Working hours and the horizon job read the table and never generate a slot inside it.
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
from booking.domain.errors import ConflictingAppointments, InvalidSchedule
from booking.service_layer.access import require_provider_access
from booking.service_layer.lifecycle import cancel_within
from booking.service_layer.schedules import LIVE, PRODUCER, lock_provider, slot_payload
from booking.service_layer.seats import release_lock
from smartslot_common.contracts.events import SLOT_BLOCKED
from smartslot_common.db import Connection, fetch_one
from smartslot_common.http.identity import Caller
from smartslot_common.messaging import Event, add_to_outbox
from smartslot_common.unit_of_work import in_transaction

OnCommit = Callable[[Connection, Any], Awaitable[None]]  # stores the idempotent answer in the transaction


@dataclass(frozen=True)
class AddTimeOff:
    """A provider will be away: block the slots inside, and cancel what is booked there if asked to."""

    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    cancel_conflicting: bool = False


async def add_time_off(
    pool: asyncpg.Pool, lock: SlotLock | None, caller: Caller, command: AddTimeOff, on_commit: OnCommit | None = None
) -> dict[str, Any]:
    """Record time off in one transaction; `409 conflicting_appointments` (nothing written) unless told to cancel."""
    released: list[tuple[uuid.UUID, str | None]] = []

    async def work(connection: Connection) -> dict[str, Any]:
        released.clear()  # a retried transaction starts over
        await require_provider_access(connection, caller, command.provider_id)
        await lock_provider(connection, command.provider_id)
        now = await repo.database_now(connection)
        if command.ends_at <= now:
            raise InvalidSchedule("Time off must end in the future.")
        slot_ids = await _lock_slots_within(connection, command, now)
        conflicts = await _live_appointments_within(connection, command, now)
        if conflicts and not command.cancel_conflicting:
            raise ConflictingAppointments(
                "Appointments are booked inside this time off; cancel them or send cancel_conflicting.",
                appointment_ids=[str(row["id"]) for row in conflicts],
            )
        for row in conflicts:
            await cancel_within(connection, row, caller, command.reason, waive_fee=True, announce_release=False)
            released.append((row["slot_id"], row["lock_token"]))
        result = await _record_time_off(connection, caller, command, slot_ids)
        result["cancelled_appointment_ids"] = [row["id"] for row in conflicts]
        if on_commit is not None:
            await on_commit(connection, result)
        return result

    result = await in_transaction(pool, work)
    for slot_id, token in released:  # after the commit, so no rival slips in before the change is visible
        await release_lock(lock, slot_id, token)
    return result


async def _lock_slots_within(connection: Connection, command: AddTimeOff, now: datetime) -> list[uuid.UUID]:
    """Lock the future open slots inside the time off. This waits for holds in flight on them, and every later
    hold fails its compare-and-set, so the look for live appointments that follows misses none."""
    rows = await connection.fetch(
        "SELECT id FROM slots WHERE provider_id = $1 AND status = 'open' AND starts_at < $3 AND ends_at > $2 "
        "AND starts_at > $4 ORDER BY starts_at FOR UPDATE",
        command.provider_id, command.starts_at, command.ends_at, now,
    )
    return [row["id"] for row in rows]


async def _live_appointments_within(
    connection: Connection, command: AddTimeOff, now: datetime
) -> list[asyncpg.Record]:
    """The future live appointments inside the time off, locked as `cancel_within` expects."""
    return await connection.fetch(
        f"SELECT {repo.APPOINTMENT_COLUMNS}, version, lock_token FROM appointments "
        f"WHERE provider_id = $1 AND status IN {LIVE} AND starts_at < $3 AND ends_at > $2 AND starts_at > $4 "
        "ORDER BY starts_at, id FOR UPDATE",
        command.provider_id, command.starts_at, command.ends_at, now,
    )


async def _record_time_off(
    connection: Connection, caller: Caller, command: AddTimeOff, slot_ids: list[uuid.UUID]
) -> dict[str, Any]:
    """Insert the time off and block its slots, one `slot.blocked` each."""
    time_off = await fetch_one(
        connection,
        "INSERT INTO time_off (id, provider_id, starts_at, ends_at, reason, created_by) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, provider_id, starts_at, ends_at, reason, created_at",
        uuid.uuid4(), command.provider_id, command.starts_at, command.ends_at, command.reason, caller.user_id,
    )
    blocked = await connection.fetch(
        "UPDATE slots SET status = 'blocked', version = version + 1, updated_at = now() "
        f"WHERE id = ANY($1::uuid[]) AND status = 'open' RETURNING {repo.SLOT_COLUMNS}",
        slot_ids,
    )
    blocked = sorted(blocked, key=lambda row: row["starts_at"])
    if blocked:
        await add_to_outbox(connection, *[
            Event.create(SLOT_BLOCKED, slot_payload(row, reason="time_off", time_off_id=str(time_off["id"])),
                         PRODUCER)
            for row in blocked
        ])
    return dict(time_off) | {"blocked_slot_ids": [row["id"] for row in blocked]}
