"""The waitlist's background jobs, each a cleanup context: started with the app, cancelled and awaited on shutdown.

- the sweeper (offer deadlines, crash recovery), every `sweep_interval_seconds`, the first pass at start-up;
- housekeeping (windows that ended, the fill-ratio gauge), every `HOUSEKEEPING_INTERVAL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from smartslot_common.logging import get_logger
from waitlist.app_keys import OFFERER, POOL, SETTINGS
from waitlist.service_layer import sweeper

log = get_logger(__name__)
HOUSEKEEPING_INTERVAL_SECONDS = 10.0
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


async def repeat(name: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` now and then every `interval` seconds; a failed run is logged once per outage and the next comes on
    time, so the job outlives database or booking outages."""
    loop = asyncio.get_running_loop()
    next_run, failing = loop.time(), False
    while True:
        try:
            await work()
        except Exception:
            if not failing:
                log.warning("job_run_failed", job=name, exc_info=True)
            failing = True
        else:
            if failing:
                log.info("job_recovered", job=name)
            failing = False
        next_run = max(next_run + interval, loop.time())
        await asyncio.sleep(next_run - loop.time())


def background(name: str, interval: Callable[[web.Application], float],
               work: Callable[[web.Application], Awaitable[object]]) -> CleanupContext:
    """A cleanup context running `work(app)` every `interval(app)` seconds while the app runs."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(repeat(name, interval(app), lambda: work(app)), name=f"waitlist-{name}")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


async def _sweep(app: web.Application) -> None:
    run = await sweeper.sweep(app[POOL], app[OFFERER], app[SETTINGS].sweep_batch_size)
    if run.recovered_requests or run.recovered_returns:
        log.info("waitlist_recovered", requests=run.recovered_requests, returns=run.recovered_returns)


async def _housekeeping(app: web.Application) -> None:
    expired = await sweeper.housekeeping(app[POOL])
    if expired:
        log.info("waitlist_windows_ended", entries=expired)


def contexts() -> list[CleanupContext]:
    """The jobs to append to the app's cleanup contexts (after the pool and the offerer they use)."""
    return [
        background("sweeper", lambda app: app[SETTINGS].sweep_interval_seconds, _sweep),
        background("housekeeping", lambda _: HOUSEKEEPING_INTERVAL_SECONDS, _housekeeping),
    ]
