"""Booking's background jobs, each a cleanup context: started with the app, cancelled and awaited on shutdown.

- the hold-expiry sweeper, every `sweep_interval_seconds`;
- the horizon job, at start-up and then every `HORIZON_INTERVAL_SECONDS`;
- the invariant check, every `INVARIANT_CHECK_INTERVAL_SECONDS` (exports `smartslot_invariant_violations`).

Several booking processes run both at once; the jobs themselves make that safe (SKIP LOCKED, an advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from booking import invariants
from booking.app_keys import LOCK, POOL, SETTINGS
from booking.service_layer import horizon, sweeper
from smartslot_common.logging import get_logger

log = get_logger(__name__)
# Several runs a day, so a missed run (a restart, an outage) costs hours, never a day of unbookable slots.
HORIZON_INTERVAL_SECONDS = 6 * 3600
INVARIANT_CHECK_INTERVAL_SECONDS = 60.0
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


async def repeat(name: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` now and then every `interval` seconds (a fixed cadence, not interval-after-finish); a failed run
    is logged and the next one comes on time, so the job outlives database or Redis outages."""
    loop = asyncio.get_running_loop()
    next_run, failing = loop.time(), False
    while True:
        try:
            await work()
        except Exception:
            # One warning per outage, not one a second: the sweeper runs every second.
            if not failing:
                log.warning("job_run_failed", job=name, exc_info=True)
            failing = True
        else:
            if failing:
                log.info("job_recovered", job=name)
            failing = False
        # When a run overran its period, start the next one now rather than catching up with a burst.
        next_run = max(next_run + interval, loop.time())
        await asyncio.sleep(next_run - loop.time())


def background(name: str, interval: Callable[[web.Application], float],
               work: Callable[[web.Application], Awaitable[object]]) -> CleanupContext:
    """A cleanup context running `work(app)` every `interval(app)` seconds while the app runs."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(repeat(name, interval(app), lambda: work(app)), name=f"booking-{name}")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


async def _sweep(app: web.Application) -> int:
    expired = await sweeper.sweep(app[POOL], app[LOCK])
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


def contexts() -> list[CleanupContext]:
    """The jobs to append to the app's cleanup contexts (after the pool and the lock they use)."""
    return [
        background("hold-sweeper", lambda app: app[SETTINGS].sweep_interval_seconds, _sweep),
        background("horizon", lambda _: HORIZON_INTERVAL_SECONDS, _extend_horizon),
        background("invariants", lambda _: INVARIANT_CHECK_INTERVAL_SECONDS, _check_invariants),
    ]
