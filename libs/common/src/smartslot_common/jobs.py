"""Periodic background jobs as aiohttp cleanup contexts: started with the app, cancelled and awaited on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from smartslot_common.logging import get_logger
from smartslot_common.metrics import JOB_INTERVAL, JOB_LAST_SUCCESS, JOB_STARTED

log = get_logger(__name__)
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def job_started(name: str, interval: float) -> None:
    """Export that job `name`, run every `interval` seconds, has started: the alert on its last success counts from
    here until it first succeeds."""
    JOB_STARTED.labels(name).set_to_current_time()
    JOB_INTERVAL.labels(name).set(interval)


def job_succeeded(name: str) -> None:
    """Export that a run of job `name` has just finished without error."""
    JOB_LAST_SUCCESS.labels(name).set_to_current_time()


async def repeat(name: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` now and then every `interval` seconds (a fixed cadence, not interval-after-finish); a failed run
    is logged and the next one comes on time, so the job outlives database or Redis outages. Each success is
    exported as `smartslot_job_last_success_timestamp_seconds{background_job=name}`."""
    loop = asyncio.get_running_loop()
    job_started(name, interval)
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
            job_succeeded(name)
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
