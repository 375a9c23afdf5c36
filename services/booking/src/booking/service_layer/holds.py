"""Placing a hold: Redis lock first (speed), then one transaction with a compare-and-set (correctness)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from booking import metrics
from booking.adapters import repository as repo
from booking.adapters.slot_lock import HeldLock, LockUnavailable, SlotLock
from booking.domain.errors import HoldQuota, SlotHeld, SlotUnavailable
from booking.domain.events import appointment_payload
from booking.domain.slot import validate_bookable
from smartslot_common.contracts.events import APPOINTMENT_LOCKED
from smartslot_common.logging import get_logger
from smartslot_common.messaging import Event, add_to_outbox

log = get_logger(__name__)
PRODUCER = "booking"
OnCommit = Callable[[asyncpg.Connection, Any], Awaitable[None]]


@dataclass(frozen=True)
class PlaceHold:
    """A client asks to hold one seat of a slot while they confirm."""

    slot_id: uuid.UUID
    client_id: uuid.UUID
    origin: str = "client"


@dataclass(frozen=True)
class HoldPolicy:
    """How long holds last and how many live holds one client may have."""

    ttl_seconds: int
    max_live_holds: int


async def _acquire(lock: SlotLock | None, slot_id: uuid.UUID, ttl_seconds: int) -> HeldLock | None:
    """Win the Redis lock or answer `slot_held`; with Redis down, go on in database-only mode."""
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


async def place_hold(
    pool: asyncpg.Pool, lock: SlotLock | None, policy: HoldPolicy, command: PlaceHold, on_commit: OnCommit | None = None
) -> asyncpg.Record:
    """Hold one seat; the appointment is `locked` until `hold_expires_at` (database clock)."""
    held = await _acquire(lock, command.slot_id, policy.ttl_seconds)
    try:
        appointment = await _hold_in_database(pool, policy, command, held, on_commit)
    except BaseException:
        if held is not None and lock is not None:
            await lock.release(held)
        raise
    metrics.HOLDS.labels(origin=command.origin).inc()
    return appointment


async def _hold_in_database(
    pool: asyncpg.Pool, policy: HoldPolicy, command: PlaceHold, held: HeldLock | None, on_commit: OnCommit | None
) -> asyncpg.Record:
    async with pool.acquire() as connection, connection.transaction():
        now = await repo.database_now(connection)
        slot = validate_bookable(await repo.get_slot(connection, command.slot_id), now)
        if await repo.count_live_holds(connection, command.client_id) >= policy.max_live_holds:
            raise HoldQuota(f"At most {policy.max_live_holds} holds at a time; confirm or release one first.")
        if not await repo.take_seat(connection, slot, "held"):
            metrics.CONFLICTS.labels(stage="database").inc()
            raise SlotUnavailable("This time slot is no longer available.")
        appointment = await repo.insert_appointment(connection, {
            "id": uuid.uuid4(), "slot_id": slot.id, "provider_id": slot.provider_id,
            "service_id": slot.service_id, "client_id": command.client_id, "status": "locked",
            "starts_at": slot.starts_at, "ends_at": slot.ends_at,
            "hold_expires_at": now + timedelta(seconds=policy.ttl_seconds), "origin": command.origin,
            "currency": await _currency(connection, slot.service_id), "lock_token": held.token if held else None,
        })
        await repo.record_transition(connection, appointment["id"], None, "locked", command.client_id, "client", None)
        await add_to_outbox(connection, Event.create(APPOINTMENT_LOCKED, appointment_payload(appointment), PRODUCER))
        if on_commit is not None:
            await on_commit(connection, appointment)
        return appointment


async def _currency(connection: asyncpg.Connection, service_id: uuid.UUID) -> str:
    return await connection.fetchval("SELECT currency FROM services WHERE id = $1", service_id)
