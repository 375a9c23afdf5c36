"""CPU per unit of work: every process's CPU time snapshotted around a scenario's load, summed over the stack.

A scenario wraps its load in `env.meter.measuring()`: from just before the first request to the last answer, or,
where the unit of work goes on after the answer (a booking's email, a cancellation's waitlist offer), until that
last effect has been observed. Set-up (catalog, accounts, slots) and the invariant checks stay outside.

The stack is the run's own service processes (by pid), this run's PostgreSQL backends, RabbitMQ, Redis and the SMTP
sink. The load driver, py-spy, other databases' backends and everything else on the machine are reported apart and
never counted in the stack's figure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench.profiling import cpu

SHARED_SERVERS = ("postgres (this run)", "rabbitmq", "redis", "smtp sink")
OUTSIDE_THE_STACK = (cpu.LOAD_DRIVER, cpu.PY_SPY, "postgres (other)", "other")


@dataclass(frozen=True)
class Window:
    """CPU seconds by role spent between two snapshots, and the wall time between them."""

    spent: dict[str, float]
    wall_seconds: float


class CpuMeter:
    """Brackets a scenario's load with CPU snapshots; `take()` hands over (and forgets) the last window."""

    def __init__(self, services: dict[int, str], database: str) -> None:
        self.services, self.database = services, database
        self._last: Window | None = None

    @contextmanager
    def measuring(self) -> Iterator[None]:
        before, started = cpu.snapshot(), time.monotonic()
        try:
            yield
        finally:
            after = cpu.snapshot()
            self._last = Window(cpu.spent(before, after, self.services, self.database), time.monotonic() - started)

    def take(self) -> Window | None:
        window, self._last = self._last, None
        return window


def in_stack(role: str) -> bool:
    """Whether a role's CPU counts towards the stack's figure."""
    return role not in OUTSIDE_THE_STACK


def per_request(window: Window, requests: int) -> dict:
    """The window as CPU milliseconds per request: summed over the stack, by role (stack roles, largest first),
    each stack role's share of the stack's CPU, and what was spent outside the stack (the driver among it)."""
    def ms(seconds: float) -> float:
        return round(1000 * seconds / requests, 3) if requests else 0.0

    stack = {role: used for role, used in window.spent.items() if in_stack(role)}
    total = sum(stack.values())
    return {
        "requests": requests, "wall_seconds": round(window.wall_seconds, 2),
        "stack_ms_per_request": ms(total),
        "by_role_ms_per_request": {role: ms(used) for role, used in stack.items()},
        "stack_share": {role: round(used / total, 4) if total else 0.0 for role, used in stack.items()},
        "outside_stack_ms_per_request": {role: ms(window.spent.get(role, 0.0)) for role in OUTSIDE_THE_STACK
                                         if role in window.spent},
    }


def table(cost: dict) -> str:
    """Markdown: each stack role's CPU ms per request and share of the stack, the stack's sum, then the roles outside
    it (not counted)."""
    lines = [f"{cost['requests']} requests in {cost['wall_seconds']:g} s", "",
             "| process | CPU ms / request | share of the stack |", "|---|---|---|"]
    lines += [f"| {role} | {ms:.3f} | {100 * cost['stack_share'][role]:.0f} % |"
              for role, ms in cost["by_role_ms_per_request"].items()]
    lines.append(f"| **stack** | **{cost['stack_ms_per_request']:.3f}** | 100 % |")
    lines += [f"| {role} (not counted) | {ms:.3f} | — |" for role, ms in cost["outside_stack_ms_per_request"].items()]
    return "\n".join(lines)
