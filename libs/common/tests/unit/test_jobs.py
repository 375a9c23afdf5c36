"""The periodic job loop every service's background jobs share: a failed run is logged once per outage, the next
run comes on time, an overrun does not cause a burst, the loop stops when cancelled, and every job exports when it
last succeeded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from itertools import pairwise

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from smartslot_common.http import create_base_app
from smartslot_common.jobs import background, repeat


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
