"""The background loop every service's jobs share: a failed run is logged once per outage, the next run comes on
time (or after a back-off), an overrun does not cause a burst, a wake-up runs it early (after its linger), a run that
reports more is followed at once, `stop` lets the run in progress finish within the grace period, and every job
exports when it last succeeded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from itertools import pairwise
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from smartslot_common import jobs
from smartslot_common.http import create_base_app
from smartslot_common.jobs import Backoff, Job, background, repeat, running


async def test_a_failed_run_is_logged_and_the_next_one_still_comes() -> None:
    runs: list[int] = []
    third = asyncio.Event()

    async def work() -> None:
        runs.append(0)
        if len(runs) >= 3:
            third.set()
        if len(runs) <= 2:
            raise ConnectionError("database unreachable")

    task = asyncio.create_task(repeat("test", 0.01, work))
    try:
        async with asyncio.timeout(5):
            await third.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()
    assert len(runs) >= 3, "two failed runs did not stop the job"


async def test_after_a_run_that_overran_its_period_the_cadence_resumes_without_a_burst() -> None:
    runs: list[float] = []
    enough = asyncio.Event()
    period = 0.05
    loop = asyncio.get_running_loop()

    async def first_one_slow() -> None:
        runs.append(loop.time())
        if len(runs) == 1:
            await asyncio.sleep(5 * period)
        if len(runs) == 4:
            enough.set()

    task = asyncio.create_task(repeat("slow", period, first_one_slow))
    try:
        async with asyncio.timeout(5):
            await enough.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    gaps = [later - earlier for earlier, later in pairwise(runs)]
    assert gaps[0] >= 5 * period, "the next run waits for the slow one"
    # A catch-up schedule would fire the four missed periods back to back, microseconds apart.
    assert min(gaps[1:]) >= period / 2, "and no burst of catch-up runs follows"


async def test_every_background_job_exports_its_start_period_and_last_success_on_metrics() -> None:
    """What the `BackgroundJobNotSucceeding` alert reads: a job that keeps failing has a start time and no success;
    one that succeeds has a last success no older than its run."""
    app = create_base_app()
    ran_twice = asyncio.Event()
    runs: list[int] = []

    async def succeeds(_: web.Application) -> None:
        runs.append(0)
        if len(runs) >= 2:
            ran_twice.set()

    async def fails(_: web.Application) -> None:
        raise ConnectionError("database unreachable")

    app.cleanup_ctx.append(background("t-jobs-ok", lambda _: 0.01, succeeds))
    app.cleanup_ctx.append(background("t-jobs-failing", lambda _: 30.0, fails))
    before = time.time()
    async with TestClient(TestServer(app)) as client:
        async with asyncio.timeout(5):
            await ran_twice.wait()
        text = await (await client.get("/metrics")).text()
    samples = {(sample.name, sample.labels.get("background_job")): sample.value
               for family in text_string_to_metric_families(text) for sample in family.samples}

    assert samples[("smartslot_job_last_success_timestamp_seconds", "t-jobs-ok")] >= before
    assert samples[("smartslot_job_interval_seconds", "t-jobs-ok")] == 0.01
    assert samples[("smartslot_job_started_timestamp_seconds", "t-jobs-failing")] >= before
    assert samples[("smartslot_job_interval_seconds", "t-jobs-failing")] == 30.0
    assert ("smartslot_job_last_success_timestamp_seconds", "t-jobs-failing") not in samples


class Runs:
    """Records a job's runs (loop times) and lets a test wait for the n-th one."""

    def __init__(self, more: Callable[[int], bool] = lambda _: False, fails: Callable[[int], bool] = lambda _: False):
        self.times: list[float] = []
        self._more = more
        self._fails = fails
        self._changed = asyncio.Event()

    async def work(self) -> bool:
        self.times.append(asyncio.get_running_loop().time())
        self._changed.set()
        if self._fails(len(self.times)):
            raise ConnectionError("database unreachable")
        return self._more(len(self.times))

    async def reached(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.times) < count:
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def started(job: Job) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(job.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_wake_up_runs_the_job_before_its_interval_is_up() -> None:
    runs = Runs()
    job = Job("t-woken", 60.0, runs.work)
    async with started(job):
        await runs.reached(1)
        job.wake()
        await runs.reached(2)
    assert runs.times[1] - runs.times[0] < 30.0


async def test_a_run_that_reports_more_waiting_is_followed_at_once_without_a_wake_up() -> None:
    runs = Runs(more=lambda count: count < 3)
    async with started(Job("t-more", 60.0, runs.work)):
        await runs.reached(3)
    assert len(runs.times) == 3


async def test_after_a_wake_up_the_job_lingers_so_the_wake_ups_right_behind_it_share_the_run() -> None:
    runs = Runs()
    linger = 0.1
    job = Job("t-linger", 60.0, runs.work, linger=linger)
    async with started(job):
        await runs.reached(1)
        loop = asyncio.get_running_loop()
        woken_at = loop.time()
        job.wake()
        loop.call_later(linger / 4, job.wake)  # arrives while the job lingers: no run of its own
        await runs.reached(2)
        woken_again_at = loop.time()
        job.wake()
        await runs.reached(3)
    assert runs.times[1] - woken_at >= linger
    assert runs.times[2] >= woken_again_at + linger, "the second wake-up did not cause a run of its own"


async def test_failed_runs_back_off_exponentially_up_to_the_cap_even_when_woken_meanwhile() -> None:
    runs = Runs(fails=lambda count: count <= 4)
    base = 0.02

    async def woken_while_failing() -> bool:
        if len(runs.times) < 4:
            job.wake()  # a commit arrives during the outage: the back-off still holds
        return await runs.work()

    job = Job("t-backoff", 60.0, woken_while_failing, backoff=Backoff(base, 4 * base))
    async with started(job):
        await runs.reached(5)
    gaps = [later - earlier for earlier, later in pairwise(runs.times)]
    assert [round(gap / base) >= want for gap, want in zip(gaps, (1, 2, 4, 4), strict=True)] == [True] * 4, gaps
    assert max(gaps) < 60.0, "a failed run with a back-off does not wait for the interval"


def test_the_back_off_doubles_from_its_base_and_stops_at_its_cap() -> None:
    backoff = Backoff(1.0, 60.0)
    assert [backoff.delay(failures) for failures in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(10_000) == 60.0


class Recorded:
    """A stand-in for the module's logger: what it was asked to log."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append(("info", event, fields))


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    logged = Recorded()
    monkeypatch.setattr(jobs, "log", logged)
    runs = Runs(fails=lambda count: count <= 3)
    async with started(Job("t-outage", 0.01, runs.work)):
        await runs.reached(5)
    assert [(level, event) for level, event, _ in logged.lines] == [
        ("warning", "job_run_failed"), ("info", "job_recovered")]
    assert logged.lines[0][2]["error"] == "database unreachable"
    assert logged.lines[1][2]["failed_runs"] == 3


async def test_stop_ends_the_wait_at_once_and_run_returns() -> None:
    runs = Runs()
    job = Job("t-stop", 60.0, runs.work)
    task = asyncio.create_task(job.run())
    await runs.reached(1)
    job.stop()
    async with asyncio.timeout(5):
        await task
    assert len(runs.times) == 1
    assert job.stopping


async def test_leaving_running_lets_the_run_in_progress_finish_within_the_grace_period() -> None:
    in_run, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def slow() -> bool:
        in_run.set()
        await release.wait()
        finished.append(True)
        return False

    async with running(Job("t-grace", 60.0, slow), "t-grace", grace=5.0):
        await in_run.wait()
        asyncio.get_running_loop().call_soon(release.set)  # while `running` waits for the loop to stop
    assert finished == [True]


async def test_a_loop_that_overstays_its_grace_period_is_cancelled() -> None:
    in_run = asyncio.Event()
    cancelled: list[bool] = []

    async def stuck() -> bool:
        in_run.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return False

    async with asyncio.timeout(5):
        async with running(Job("t-stuck", 60.0, stuck), "t-stuck", grace=0.05):
            await in_run.wait()
    assert cancelled == [True]


async def test_a_job_cancelled_mid_run_ends_even_when_the_cancellation_comes_back_as_an_error() -> None:
    started = asyncio.Event()

    async def work() -> bool:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:  # as asyncpg's rollback of a cancelled COMMIT, or aio-pika, can answer
            raise RuntimeError("the transaction is in error state") from None
        return False

    job = Job("masked", 60.0, work)
    task = asyncio.ensure_future(job.run())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()  # cancelled without stop(): the job must end by itself, not run again
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


async def test_a_loop_that_never_ends_when_cancelled_does_not_hold_the_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "STOP_SECONDS", 0.1)
    logged: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def error(self, event: str, **fields: Any) -> None:
            logged.append((event, fields))

    monkeypatch.setattr(jobs, "log", Recorder())
    started, released = asyncio.Event(), asyncio.Event()

    class Stubborn:
        async def run(self) -> None:
            started.set()
            while not released.is_set():
                with contextlib.suppress(asyncio.CancelledError):  # swallows every cancellation until released
                    await released.wait()

        def stop(self) -> None: ...

    async def leave() -> None:
        async with running(Stubborn(), "stubborn"):
            await started.wait()  # a task cancelled before its first step would end at once

    await asyncio.wait_for(leave(), 5)  # the block is left with the loop still running

    assert logged == [("loop_did_not_stop", {"loop": "stubborn", "seconds": 0.1})]
    (left_behind,) = [task for task in asyncio.all_tasks() if task.get_name() == "stubborn"]
    released.set()
    await asyncio.wait_for(left_behind, 5)  # nothing of the test outlives it
