"""CPU per unit of work: every process's CPU time snapshotted around a scenario's load, summed over the stack.

A scenario wraps its load in `async with env.meter.measuring()`: from just before the first request to the last
answer, or, where the unit of work goes on after the answer (a booking's email, a cancellation's waitlist offer),
until that last effect has been observed; and at both ends until the stack has gone quiet, so that the events the
load left to consumers count towards it and not towards the next scenario (nor the set-up's towards this one).
Set-up (catalog, accounts, slots) and the invariant checks stay outside.

The stack is the run's own service processes (by pid), this run's PostgreSQL backends, RabbitMQ, Redis and the SMTP
sink. The load driver, py-spy, other databases' backends and everything else on the machine are reported apart and
never counted in the stack's figure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bench.profiling import cpu

SHARED_SERVERS = ("postgres (this run)", "rabbitmq", "redis", "smtp sink")
OUTSIDE_THE_STACK = (cpu.LOAD_DRIVER, cpu.PY_SPY, "postgres (other)", "other")
OTHERS = ("postgres (other)", "other")  # neither this run's stack nor its tools
# Quiet: the stack used less than this many cores over one interval (idle, the services' pollers and sweepers cost a
# few hundredths of a core). Past the timeout the snapshot is taken anyway (a shared broker may never be quiet).
QUIET_CORES, QUIET_INTERVAL_SECONDS, SETTLE_TIMEOUT_SECONDS = 0.1, 0.25, 15.0


@dataclass(frozen=True)
class Window:
    """CPU seconds by role spent between two snapshots, and the wall time between them."""

    spent: dict[str, float]
    wall_seconds: float


class CpuMeter:
    """Brackets a scenario's load with CPU snapshots; `take()` hands over (and forgets) the last window."""

    def __init__(self, services: dict[int, str], database: str, interval: float = QUIET_INTERVAL_SECONDS,
                 timeout: float = SETTLE_TIMEOUT_SECONDS) -> None:
        self.services, self.database = services, database
        self.interval, self.timeout = interval, timeout
        self._last: Window | None = None

    @asynccontextmanager
    async def measuring(self) -> AsyncIterator[None]:
        before = await self.settled()
        started = time.monotonic()
        try:
            yield
        finally:
            after = await self.settled()
            self._last = Window(self._spent(before, after), time.monotonic() - started)

    async def settled(self) -> cpu.Snapshot:
        """A snapshot taken once the stack is quiet (under QUIET_CORES over an interval), or at the timeout."""
        deadline = time.monotonic() + self.timeout
        previous = cpu.snapshot()
        while True:
            await asyncio.sleep(self.interval)  # one measuring interval of the stack's CPU use
            current = cpu.snapshot()
            busy = sum(used for role, used in self._spent(previous, current).items() if in_stack(role))
            if busy < QUIET_CORES * self.interval or time.monotonic() > deadline:
                return current
            previous = current

    def _spent(self, before: cpu.Snapshot, after: cpu.Snapshot) -> dict[str, float]:
        return cpu.spent(before, after, self.services, self.database)

    def take(self) -> Window | None:
        window, self._last = self._last, None
        return window


def in_stack(role: str) -> bool:
    """Whether a role's CPU counts towards the stack's figure."""
    return role not in OUTSIDE_THE_STACK


def per_request(window: Window, requests: int, unit: str = "request") -> dict:
    """The window as CPU milliseconds per request (or per `unit` of work, `requests` of them): summed over the
    stack, by role (stack roles, largest first), each stack role's share of the stack's CPU, and what was spent
    outside the stack (the driver among it)."""
    def ms(seconds: float) -> float:
        return round(1000 * seconds / requests, 3) if requests else 0.0

    stack = {role: used for role, used in window.spent.items() if in_stack(role)}
    total = sum(stack.values())
    return {
        "requests": requests, "unit": unit, "wall_seconds": round(window.wall_seconds, 2),
        "stack_ms_per_request": ms(total),
        "by_role_ms_per_request": {role: ms(used) for role, used in stack.items()},
        "stack_share": {role: round(used / total, 4) if total else 0.0 for role, used in stack.items()},
        "outside_stack_ms_per_request": {role: ms(window.spent.get(role, 0.0)) for role in OUTSIDE_THE_STACK
                                         if role in window.spent},
        # How busy the rest of the machine was meanwhile (other databases, others' tests): a figure taken while
        # it was high was taken on fewer free cores.
        "others_cores": round(sum(window.spent.get(role, 0.0) for role in OTHERS) / window.wall_seconds, 2)
        if window.wall_seconds else 0.0,
    }


def table(cost: dict) -> str:
    """Markdown: each stack role's CPU ms per request and share of the stack, the stack's sum, then the roles outside
    it (not counted)."""
    unit = cost.get("unit", "request")
    lines = [f"{cost['requests']:,} units of work (one = a {unit}) in {cost['wall_seconds']:g} s", "",
             f"| process | CPU ms / {unit} | share of the stack |", "|---|---|---|"]
    lines += [f"| {role} | {ms:.3f} | {100 * cost['stack_share'][role]:.0f} % |"
              for role, ms in cost["by_role_ms_per_request"].items()]
    lines.append(f"| **stack** | **{cost['stack_ms_per_request']:.3f}** | 100 % |")
    lines += [f"| {role} (not counted) | {ms:.3f} | — |" for role, ms in cost["outside_stack_ms_per_request"].items()]
    return "\n".join(lines)
