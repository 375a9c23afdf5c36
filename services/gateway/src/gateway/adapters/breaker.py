"""A circuit breaker per upstream: closed → open after N consecutive failures → one half-open probe after a cool-down.

Written here rather than taken from a package: the maintained asyncio breakers either wrap the call in their own
exception scheme or read the wall clock directly, and the gateway needs three things they make awkward — the time
left until the next probe (for `Retry-After`), an injectable clock for tests, and exactly one probe at a time.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class State(enum.Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class BreakerOpen(Exception):
    """The upstream is presumed down; try again after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"circuit open, retry after {retry_after:.1f}s")


@dataclass
class CircuitBreaker:
    """Counts consecutive failures of one upstream and refuses calls while it is presumed down.

    Use: `breaker.before_call()` (raises `BreakerOpen`), then `record_success()` or `record_failure()`.
    """

    failure_threshold: int
    cooldown_seconds: float
    clock: Callable[[], float] = time.monotonic
    on_change: Callable[[State], None] = lambda state: None
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False
    _state: State = field(default=State.CLOSED)

    @property
    def state(self) -> State:
        """The state now; an open breaker whose cool-down has passed reads half-open."""
        if self._state is State.OPEN and self.clock() - self.opened_at >= self.cooldown_seconds:
            return State.HALF_OPEN
        return self._state

    def before_call(self) -> None:
        """Admit the call, or raise `BreakerOpen`; in half-open only one probe is in flight at a time."""
        state = self.state
        if state is State.CLOSED:
            return
        if state is State.HALF_OPEN and not self.probing:
            self.probing = True
            self._set(State.HALF_OPEN)
            return
        raise BreakerOpen(self.retry_after())

    def retry_after(self) -> float:
        """Seconds until a probe may be tried (at least the cool-down left, never below zero)."""
        return max(0.0, self.cooldown_seconds - (self.clock() - self.opened_at))

    def record_success(self) -> None:
        self.failures, self.probing = 0, False
        self._set(State.CLOSED)

    def record_failure(self) -> None:
        """A failed probe reopens at once; in closed, the threshold-th consecutive failure opens."""
        self.failures += 1
        if self.probing or self.failures >= self.failure_threshold:
            self.opened_at, self.probing = self.clock(), False
            self._set(State.OPEN)

    def release_probe(self) -> None:
        """A probe that ended with neither verdict (e.g. cancelled) frees the slot for the next one."""
        self.probing = False

    def _set(self, state: State) -> None:
        if state is not self._state:
            self._state = state
            self.on_change(state)
