"""Booking's background jobs, each a cleanup context: started with the app, cancelled and awaited on shutdown.

- the hold-expiry sweeper, every `sweep_interval_seconds`;
- the horizon job, at start-up and then every `HORIZON_INTERVAL_SECONDS`;
- the invariant check, every `INVARIANT_CHECK_INTERVAL_SECONDS` (exports `smartslot_invariant_violations`);
- retention (published outbox rows, expired idempotency keys), every `retention_interval_seconds`.

Several booking processes run both at once; the jobs themselves make that safe (SKIP LOCKED, an advisory lock).
"""

from __future__ import annotations

from aiohttp import web

from booking import invariants, retention
from booking.app_keys import LOCK, POOL, SETTINGS
from booking.service_layer import horizon, sweeper
from booking.service_layer.unit_of_work import PostgresUnitOfWork
from smartslot_common.jobs import CleanupContext, background
from smartslot_common.logging import get_logger
from smartslot_common.retention import pass_budget, retain

log = get_logger(__name__)
# Several runs a day, so a missed run (a restart, an outage) costs hours, never a day of unbookable slots.
HORIZON_INTERVAL_SECONDS = 6 * 3600
INVARIANT_CHECK_INTERVAL_SECONDS = 60.0


async def _sweep(app: web.Application) -> int:
    expired = await sweeper.sweep(PostgresUnitOfWork(app[POOL]), app[LOCK])
    if expired:
        log.info("holds_expired", count=expired)
    return expired


async def _extend_horizon(app: web.Application) -> horizon.HorizonRun | None:
    run = await horizon.extend_all(app[POOL], app[SETTINGS].booking_horizon_days)
    if run is not None and run.slots_created:
        log.info("horizon_extended", providers=run.providers, slots_created=run.slots_created)
    return run


async def _check_invariants(app: web.Application) -> dict[str, int]:
    # Grace: one sweep period plus slack, so a hold the sweeper is about to take is not counted (I4).
    grace = app[SETTINGS].sweep_interval_seconds + invariants.DEFAULT_DEADLINE_GRACE_SECONDS
    counts = await invariants.check_pool(app[POOL], grace)
    if any(counts.values()):
        log.error("invariant_violations", **counts)
    return counts


async def _retain(app: web.Application) -> dict[str, int]:
    settings = app[SETTINGS]
    return await retain(app[POOL], retention.policies(settings), settings.retention_batch_size, pass_budget(settings))


def contexts() -> list[CleanupContext]:
    """The jobs to append to the app's cleanup contexts (after the pool and the lock they use)."""
    return [
        background("hold-sweeper", lambda app: app[SETTINGS].sweep_interval_seconds, _sweep),
        background("horizon", lambda _: HORIZON_INTERVAL_SECONDS, _extend_horizon),
        background("invariants", lambda _: INVARIANT_CHECK_INTERVAL_SECONDS, _check_invariants),
        background("retention", lambda app: app[SETTINGS].retention_interval_seconds, _retain),
    ]
