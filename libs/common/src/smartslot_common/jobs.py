"""Periodic background jobs as aiohttp cleanup contexts: started with the app, cancelled and awaited on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from smartslot_common.logging import get_logger

log = get_logger(__name__)
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
        task = asyncio.create_task(repeat(name, interval(app), lambda: work(app)), name=f"job-{name}")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context
