"""The periodic job loop every service's background jobs share: a failed run is logged once per outage, the next
run comes on time, an overrun does not cause a burst, and the loop stops when cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from itertools import pairwise

from smartslot_common.jobs import repeat


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
