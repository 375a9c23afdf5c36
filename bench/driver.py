"""An open-loop load driver: request i is sent at t0 + i/rate whatever happened to earlier ones, and its latency is
measured from that intended start (so a slow server cannot hide queueing, "coordinated omission").

Bounded in count and in time; every request goes to a loopback address given by the scenario. Scenarios send through
the lean client (`smartslot_common.http.lean_client`: the driver shares the machine with the stack it measures, so it
must stay cheap); an
error raised by a request (refused, reset, closed early, timed out) is counted by its type, never as an answer.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from smartslot_common import heap

LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES = 1, 60_000_000, 3
Request = Callable[[int], Awaitable[int]]  # request number -> HTTP status
NO_FILE_CEILING = 1_048_576  # the kernel's default nr_open, when the hard limit is "unlimited"


@dataclass
class Outcome:
    """What one open-loop run measured."""

    name: str
    offered_rate: float
    sent: int
    elapsed_seconds: float
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    histogram: HdrHistogram = field(default_factory=lambda: HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES))

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def percentile_ms(self, percentile: float) -> float:
        return self.histogram.get_value_at_percentile(percentile) / 1000

    def summary(self) -> dict:
        return {
            "scenario": self.name, "offered_rate": round(self.offered_rate, 1), "sent": self.sent,
            "achieved_rate": round(self.achieved_rate, 1), "elapsed_seconds": round(self.elapsed_seconds, 2),
            "p50_ms": self.percentile_ms(50), "p90_ms": self.percentile_ms(90), "p99_ms": self.percentile_ms(99),
            "max_ms": self.histogram.get_max_value() / 1000, "statuses": dict(self.statuses),
            "errors": dict(self.errors),
        }


async def _timed(outcome: Outcome, request: Request, number: int, intended: float) -> None:
    try:
        status = await request(number)
        outcome.statuses[status] += 1
    except Exception as error:  # a failed request is a measurement, not a crash of the driver
        outcome.errors[type(error).__name__] += 1
    outcome.histogram.record_value(max(LOWEST_US, int((time.perf_counter() - intended) * 1_000_000)))


async def open_loop(name: str, request: Request, rate: float, count: int, max_seconds: float) -> Outcome:
    """Send `count` requests at `rate` per second (stopping early after `max_seconds`); wait for all answers. The
    driver's heap is settled meanwhile: a pass of its collector would hold back sends and read as latency."""
    with heap.settled():
        return await _open_loop(name, request, rate, count, max_seconds)


async def _open_loop(name: str, request: Request, rate: float, count: int, max_seconds: float) -> Outcome:
    outcome = Outcome(name, rate, 0, 0.0)
    started = time.perf_counter()
    tasks: list[asyncio.Task] = []
    for number in range(count):
        intended = started + number / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the schedule, not synchronising with the system under test
        if time.perf_counter() - started > max_seconds:
            break
        tasks.append(asyncio.create_task(_timed(outcome, request, number, intended)))
        outcome.sent += 1
    await asyncio.gather(*tasks)
    outcome.elapsed_seconds = time.perf_counter() - started
    return outcome


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (a storm of 10,000 clients holds 10,000
    sockets here, and as many in the service it hits, which inherits the limit when started after this); the limit
    now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NO_FILE_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # above the kernel's nr_open: keep what we have
            return soft
        return wanted
    return soft


async def burst(name: str, request: Request, clients: int) -> Outcome:
    """`clients` requests released at the same instant (a storm); latency from the release (the driver's heap
    settled meanwhile, as in `open_loop`)."""
    if clients + 100 > raise_open_files_limit():
        raise RuntimeError(f"a storm of {clients} clients needs more open files than this process may have "
                           f"(ulimit -n {resource.getrlimit(resource.RLIMIT_NOFILE)[0]})")
    outcome = Outcome(name, float("inf"), clients, 0.0)
    gate = asyncio.Event()

    async def one(number: int) -> None:
        await gate.wait()
        await _timed(outcome, request, number, released)

    with heap.settled():
        tasks = [asyncio.create_task(one(number)) for number in range(clients)]
        await asyncio.sleep(0)  # let every task reach the gate
        released = time.perf_counter()
        gate.set()
        await asyncio.gather(*tasks)
    outcome.elapsed_seconds = time.perf_counter() - released
    return outcome
