"""The daily horizon job: every provider's generated slots reach `booking_horizon_days` ahead, always.

Only days not generated before are generated (a slot deleted by hand stays deleted), time off is honoured, and a
second run finds nothing to do. One process does the job at a time: the others see the advisory lock taken and skip.
Each provider is extended in its own short transaction, so a long run never holds more than one provider's row lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial

import asyncpg

from booking.adapters.schedule_repository import providers_with_hours, try_job_lock
from booking.service_layer.schedules import extend_provider
from booking.service_layer.unit_of_work import PostgresUnitOfWork, UnitOfWork

# pg_try_advisory_xact_lock key of the job: any fixed 64-bit number unique within the database.
LOCK_KEY = 0x5353_484F_5249_5A4E  # "SSHORIZN"


@dataclass(frozen=True)
class HorizonRun:
    """What one run of the job did."""

    providers: int
    slots_created: int


async def extend_all(pool: asyncpg.Pool, horizon_days: int) -> HorizonRun | None:
    """Extend every provider's slots to the horizon; None when another process is doing it right now."""
    async with pool.acquire() as guard, guard.transaction():
        # Held by this open transaction for the whole run, and released when it ends, however it ends.
        if not await try_job_lock(guard, LOCK_KEY):
            return None
        providers = await providers_with_hours(guard)
        return HorizonRun(len(providers), await extend(PostgresUnitOfWork(pool), providers, horizon_days))


async def extend(uow: UnitOfWork, provider_ids: list[uuid.UUID], horizon_days: int) -> int:
    """Extend each provider in its own transaction; return how many slots were created."""
    created = 0
    for provider_id in provider_ids:
        created += await uow.run(partial(extend_provider, provider_id=provider_id, horizon_days=horizon_days))
    return created
