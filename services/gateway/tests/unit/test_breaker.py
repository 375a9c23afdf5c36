"""The circuit breaker on a fake clock: closed → open after N consecutive failures → one half-open probe after the
cool-down → closed on success, open again on failure."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateway.adapters.breaker import BreakerOpen, CircuitBreaker, State


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(threshold: int = 3, cooldown: float = 10.0) -> tuple[CircuitBreaker, FakeClock, list[State]]:
    clock, changes = FakeClock(), []
    return CircuitBreaker(threshold, cooldown, clock=clock, on_change=changes.append), clock, changes


def fail(cb: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        cb.before_call()
        cb.record_failure()


def test_it_stays_closed_below_the_threshold_and_a_success_resets_the_count() -> None:
    cb, _, changes = breaker(threshold=3)
    fail(cb, 2)
    cb.before_call()
    cb.record_success()
    fail(cb, 2)
    assert cb.state is State.CLOSED
    assert changes == []


def test_the_threshold_th_consecutive_failure_opens_it_and_calls_are_refused_at_once() -> None:
    cb, clock, changes = breaker(threshold=3, cooldown=10)
    fail(cb, 3)
    assert cb.state is State.OPEN
    assert changes == [State.OPEN]
    clock.now += 4
    with pytest.raises(BreakerOpen) as refused:
        cb.before_call()
    assert refused.value.retry_after == pytest.approx(6)


def test_after_the_cooldown_exactly_one_probe_goes_through() -> None:
    cb, clock, _ = breaker(threshold=1, cooldown=10)
    fail(cb, 1)
    clock.now += 10
    assert cb.state is State.HALF_OPEN
    cb.before_call()  # the probe
    with pytest.raises(BreakerOpen):
        cb.before_call()  # everyone else waits for the probe's verdict


def test_a_successful_probe_closes_it() -> None:
    cb, clock, changes = breaker(threshold=2, cooldown=5)
    fail(cb, 2)
    clock.now += 5
    cb.before_call()
    cb.record_success()
    assert cb.state is State.CLOSED
    assert changes == [State.OPEN, State.HALF_OPEN, State.CLOSED]
    fail(cb, 1)
    assert cb.state is State.CLOSED, "the count starts again from zero"


def test_a_failed_probe_reopens_it_for_a_whole_new_cooldown() -> None:
    cb, clock, _ = breaker(threshold=5, cooldown=5)
    fail(cb, 5)
    clock.now += 6
    cb.before_call()
    cb.record_failure()
    assert cb.state is State.OPEN
    assert cb.retry_after() == pytest.approx(5)


def test_a_probe_that_ends_without_a_verdict_frees_the_slot() -> None:
    cb, clock, _ = breaker(threshold=1, cooldown=1)
    fail(cb, 1)
    clock.now += 1
    cb.before_call()
    cb.release_probe()
    cb.before_call()  # a new probe may go


def test_retry_after_never_goes_negative() -> None:
    cb, clock, _ = breaker(threshold=1, cooldown=1)
    fail(cb, 1)
    clock.now += 100
    assert cb.retry_after() == 0
