"""The daily horizon job: every provider's generated slots reach `booking_horizon_days` ahead, always.

Only days not generated before are generated (a slot deleted by hand stays deleted), time off is honoured, and a
second run finds nothing to do. One process does the job at a time: the others see the advisory lock taken and skip.
Each provider is extended in its own short transaction, so a long run never holds more than one provider's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import asyncpg

from booking.service_layer.schedules import extend_provider
from smartslot_common.db import Connection
from smartslot_common.unit_of_work import in_transaction

# pg_try_advisory_xact_lock key of the job: any fixed 64-bit number unique within the database.
LOCK_KEY = 0x5353_484F_5249_5A4E  # "SSHORIZN"


@dataclass(frozen=True)
class HorizonRun:
    """What one run of the job did."""

    providers: int
    slots_created: int


async def _providers_with_hours(connection: Connection) -> list[asyncpg.Record]:
    return await connection.fetch(
        "SELECT id FROM providers p WHERE deleted_at IS NULL "
        "AND EXISTS (SELECT 1 FROM working_hours w WHERE w.provider_id = p.id) ORDER BY id"
    )


async def extend_all(pool: asyncpg.Pool, horizon_days: int) -> HorizonRun | None:
    """Extend every provider's slots to the horizon; None when another process is doing it right now."""
    async with pool.acquire() as guard, guard.transaction():
        # Held by this open transaction for the whole run, and released when it ends, however it ends.
        if not await guard.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_KEY):
            return None
        providers = await _providers_with_hours(guard)
        created = 0
        for provider in providers:
            created += await in_transaction(
                pool, partial(extend_provider, provider_id=provider["id"], horizon_days=horizon_days)
            )
        return HorizonRun(len(providers), created)
