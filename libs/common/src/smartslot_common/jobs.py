"""Background loops, the one mechanism every service's periodic and woken work runs on.

A `Job` runs its work now and then every `interval` seconds; sooner when woken (an outbox commit, a queued email);
again at once when a run reports more work waiting. A failed run is logged once per outage and the loop goes on, on
time or after a back-off, so it outlives database, Redis and broker outages. `stop` ends it after the run in
progress; `running` and `background` tie a loop to an aiohttp app as a cleanup context. Every job exports when it
started, its interval and its last success (what the `BackgroundJobNotSucceeding` alert reads).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from smartslot_common.logging import get_logger
from smartslot_common.metrics import JOB_INTERVAL, JOB_LAST_SUCCESS, JOB_STARTED

log = get_logger(__name__)
CleanupContext = Callable[[web.Application], AsyncIterator[None]]
# One run of a job; True when more work is waiting, so the next run should start at once.
Work = Callable[[], Awaitable[bool]]


def job_started(name: str, interval: float) -> None:
    """Export that job `name`, run every `interval` seconds, has started: the alert on its last success counts from
    here until it first succeeds."""
    JOB_STARTED.labels(name).set_to_current_time()
    JOB_INTERVAL.labels(name).set(interval)


def job_succeeded(name: str) -> None:
    """Export that a run of job `name` has just finished without error."""
    JOB_LAST_SUCCESS.labels(name).set_to_current_time()


@dataclass(frozen=True)
class Backoff:
    """After consecutive failed runs, wait `base` doubled per failure, at most `cap`, before the next run."""

    base: float
    cap: float

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failed run in a row (the exponent capped so it cannot overflow)."""
        return min(self.cap, self.base * 2.0 ** min(failures - 1, 30))


class Job:
    """A background loop: `work` now, then every `interval` seconds (a fixed cadence, not interval-after-finish),
    sooner when woken, at once again when a run says more is waiting; failures logged and outlived.

    `linger`: after a wake-up, wait this long for the wake-ups right behind it, so one run serves several.
    `backoff`: after a failed run, wait this back-off (wake-ups ignored) rather than until the next interval.
    """

    def __init__(
        self, name: str, interval: float, work: Work, *, linger: float = 0.0, backoff: Backoff | None = None
    ) -> None:
        self.name = name
        self.interval = interval
        self._work = work
        self._linger = linger
        self._backoff = backoff
        self._woken = asyncio.Event()
        self._stopped = asyncio.Event()
        self._failures = 0

    def wake(self) -> None:
        """New work is waiting: run now rather than at the next interval."""
        self._woken.set()

    def stop(self) -> None:
        """Start no more runs: `run` returns once the one in progress, if any, is done."""
        self._stopped.set()
        self._woken.set()

    @property
    def stopping(self) -> bool:
        """Whether `stop` was called."""
        return self._stopped.is_set()

    async def run(self) -> None:
        """Run until stopped (or cancelled)."""
        loop = asyncio.get_running_loop()
        job_started(self.name, self.interval)
        scheduled = loop.time()  # when the run about to start was due
        while not self._stopped.is_set():
            self._woken.clear()  # before the run, so a wake-up during it brings the next one
            more = await self._run_once()
            if self._stopped.is_set():
                return
            if more:
                await asyncio.sleep(0)  # let the rest of the process run between back-to-back runs
                scheduled = loop.time()
            elif self._failures and self._backoff is not None:
                await self._pause(self._backoff.delay(self._failures))
                scheduled = loop.time()
            else:
                # When a run overran its period, start the next one now rather than catching up with a burst.
                scheduled = max(scheduled + self.interval, loop.time())
                if await self._woken_before(scheduled):
                    scheduled = loop.time()
                    await self._pause(self._linger)

    async def _run_once(self) -> bool:
        try:
            more = await self._work()
        except Exception as error:  # the loop outlives any one run: a dead job would do nothing more
            if being_cancelled():  # cancelled, though a library answered with an error of its own: end
                raise asyncio.CancelledError from error
            self._failed(error)
            return False
        job_succeeded(self.name)
        if self._failures:
            log.info("job_recovered", job=self.name, failed_runs=self._failures)
        self._failures = 0
        return more

    def _failed(self, error: Exception) -> None:
        self._failures += 1
        if self._failures == 1:  # one warning per outage, not one a second: the sweepers run every second
            retry = self._backoff.delay(1) if self._backoff is not None else None
            log.warning("job_run_failed", job=self.name, error=str(error) or type(error).__name__,
                        retry_in_seconds=retry, exc_info=True)

    async def _woken_before(self, deadline: float) -> bool:
        """Wait until `deadline` (loop time) or a wake-up (or stop); whether it was a wake-up."""
        if self._woken.is_set():  # woken during the run: no wait, but let the rest of the process run first
            await asyncio.sleep(0)
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self._woken.wait()
        return self._woken.is_set()

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less when stopped."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._stopped.wait()


def being_cancelled() -> bool:
    """Whether the running task has been asked to stop: for a loop that catches errors to go on, since a library
    (asyncpg's rollback of a cancelled COMMIT, aio-pika opening a channel) can answer a cancellation with an error of
    its own, and the loop must end all the same."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


# How long a cancelled loop may take to end before a shutdown goes on without it.
STOP_SECONDS = 10.0


class Loop(Protocol):
    """What `running` needs: a loop to run, and a way to ask it to finish (a `Job`, or an object built on one)."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


@contextlib.asynccontextmanager
async def running(loop: Loop, name: str, grace: float = 0.0) -> AsyncIterator[None]:
    """Run `loop` in a task named `name` for the duration of the block; on leaving it, ask it to stop, give it
    `grace` seconds to finish what it holds, then cancel it."""
    task = asyncio.create_task(loop.run(), name=name)
    try:
        yield
    finally:
        loop.stop()
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), grace)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=STOP_SECONDS)
        if done:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:  # it did not end when cancelled: the shutdown goes on without it rather than waiting for ever
            log.error("loop_did_not_stop", loop=name, seconds=STOP_SECONDS)


def _once(work: Callable[[], Awaitable[object]]) -> Work:
    """`work` as a job's run that never asks for another at once."""

    async def run() -> bool:
        await work()
        return False

    return run


async def repeat(name: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` now and then every `interval` seconds until cancelled (a `Job` nobody wakes)."""
    await Job(name, interval, _once(work)).run()


def background(name: str, interval: Callable[[web.Application], float],
               work: Callable[[web.Application], Awaitable[object]]) -> CleanupContext:
    """A cleanup context running `work(app)` every `interval(app)` seconds while the app runs."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        job = Job(name, interval(app), _once(lambda: work(app)))
        async with running(job, f"job-{name}"):
            yield

    return context
