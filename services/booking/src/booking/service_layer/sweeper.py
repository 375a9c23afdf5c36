"""Hold expiry: `locked` appointments past their deadline become `expired` and give their seat back (I4).

Deadlines are read on the database clock. Due holds are taken in small batches with `FOR UPDATE SKIP LOCKED`, so
any number of booking processes can sweep at once: each hold is expired by exactly one of them, and a hold being
confirmed right now (its row locked by the confirmation) is simply left for the next round.
"""

from __future__ import annotations

import asyncpg

from booking import metrics
from booking.adapters import repository as repo
from booking.adapters.slot_lock import SlotLock
from booking.service_layer.seats import expire_within, release_lock
from smartslot_common.db import Connection
from smartslot_common.unit_of_work import in_transaction

BATCH_SIZE = 100
REASON = "hold deadline passed"


async def _due_holds(connection: Connection, batch_size: int) -> list[asyncpg.Record]:
    return await connection.fetch(
        f"SELECT {repo.APPOINTMENT_COLUMNS}, version, lock_token FROM appointments "
        "WHERE status = 'locked' AND hold_expires_at <= clock_timestamp() "
        "ORDER BY hold_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        batch_size,
    )


async def expire_batch(connection: Connection, batch_size: int = BATCH_SIZE) -> list[asyncpg.Record]:
    """Expire up to `batch_size` due holds inside the caller's transaction; return them as they were (locked)."""
    due = await _due_holds(connection, batch_size)
    for row in due:
        # `expire_within` is the one expiry path (confirm uses it too): `transition(..., "expire", None, ...)`, the
        # held seat back, `appointment.expired` + `slot.released` to the outbox.
        await expire_within(connection, row, REASON)
    return due


async def sweep(pool: asyncpg.Pool, lock: SlotLock | None, batch_size: int = BATCH_SIZE) -> int:
    """Expire every hold due now, one short transaction per batch; return how many this process expired."""
    total = 0
    while True:
        expired = await in_transaction(pool, lambda connection: expire_batch(connection, batch_size))
        for row in expired:  # after the commit: the slot is visibly free before its Redis lock goes
            await release_lock(lock, row["slot_id"], row["lock_token"])
        metrics.HOLD_EXPIRIES.inc(len(expired))
        total += len(expired)
        if len(expired) < batch_size:
            return total
