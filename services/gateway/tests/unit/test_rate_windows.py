"""Sliding-window counting in memory, on a fake clock: exact limits, the previous window sliding out, an honest
Retry-After, several processes' counts adding up, and the shared-hash encoding."""

from __future__ import annotations

import math

import pytest
import redis.asyncio as aioredis

from gateway.adapters.rate_limits import RateLimiter, Rule, decode, encode
from gateway.domain.rate_windows import WindowCount, seconds_until_admitted

MINUTE = 60.0
UNREACHABLE = "redis://127.0.0.1:1/0"  # never contacted: these limiters are not syncing


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(aioredis.Redis.from_url(UNREACHABLE), "test:ratelimit", 0.25, clock=clock)


def per_user(limit: str, user: str = "u-1") -> Rule:
    return RateLimiter.rule("user", limit, f"user:{user}")


def statuses(limits: RateLimiter, rules: list[Rule], times: int) -> list[bool]:
    return [limits.admit(rules) is None for _ in range(times)]


def test_exactly_the_limit_is_admitted_within_a_window() -> None:
    clock = FakeClock()
    limits = limiter(clock)
    assert statuses(limits, [per_user("3/minute")], 4) == [True, True, True, False]


def test_each_subject_and_each_rule_counts_on_its_own() -> None:
    limits = limiter(FakeClock())
    assert statuses(limits, [per_user("2/minute", "a")], 3) == [True, True, False]
    assert statuses(limits, [per_user("2/minute", "b")], 1) == [True]
    assert statuses(limits, [RateLimiter.rule("booking", "2/minute", "user:a")], 1) == [True]


def test_a_refusal_names_the_first_rule_exceeded_and_earlier_rules_keep_their_hit() -> None:
    limits = limiter(FakeClock())
    tight, general = RateLimiter.rule("booking", "1/minute", "user:a"), per_user("10/minute", "a")
    assert limits.admit([tight, general]) is None
    refusal = limits.admit([tight, general])
    assert refusal is not None
    assert refusal.rule == "booking"
    assert statuses(limits, [general], 10) == [True] * 9 + [False]  # the refused request did not count here


def test_the_previous_window_slides_out_evenly() -> None:
    clock = FakeClock()
    limits = limiter(clock)
    assert statuses(limits, [per_user("4/minute")], 4) == [True] * 4
    clock.now += MINUTE + MINUTE / 4  # a quarter into the next window: floor(4 * 3/4) = 3 still count
    assert statuses(limits, [per_user("4/minute")], 2) == [True, False]
    clock.now += MINUTE / 4  # half-way: floor(4 * 1/2) = 2 of the previous window and 1 of this one
    assert statuses(limits, [per_user("4/minute")], 2) == [True, False]


def test_two_whole_periods_later_the_key_starts_afresh() -> None:
    clock = FakeClock()
    limits = limiter(clock)
    assert statuses(limits, [per_user("2/minute")], 3) == [True, True, False]
    clock.now += 2 * MINUTE
    assert statuses(limits, [per_user("2/minute")], 3) == [True, True, False]


@pytest.mark.parametrize("spent_seconds", [0.01, 1.5, 30.0, 59.0])
def test_retry_after_is_honest_one_second_earlier_refused_then_admitted(spent_seconds: float) -> None:
    clock = FakeClock()
    limits = limiter(clock)
    rule = per_user("3/minute")
    assert statuses(limits, [rule], 3) == [True] * 3
    clock.now += spent_seconds
    refusal = limits.admit([rule])
    assert refusal is not None
    assert 1 <= refusal.retry_after_seconds <= MINUTE
    later = clock.now + refusal.retry_after_seconds
    clock.now = later - 1
    assert limits.admit([rule]) is not None
    clock.now = later
    assert limits.admit([rule]) is None


def test_other_processes_counts_take_from_the_same_budget() -> None:
    clock = FakeClock()
    limits = limiter(clock)
    rule = per_user("5/minute")
    assert limits.admit([rule]) is None
    shared = limits._counts[rule.key]
    shared.others = [WindowCount(MINUTE, clock.now - 10, 0, 3)]  # another process's 3 hits, 10 s ago
    assert statuses(limits, [rule], 2) == [True, False]


def test_retry_after_waits_for_other_processes_hits_to_slide_out_too() -> None:
    now = 1_000_000.0
    own = WindowCount(MINUTE, now - 5, 0, 1)  # its window ends 55 s from now
    other = WindowCount(MINUTE, now - 50, 0, 2)  # its window ends 10 s from now
    # Limit 3: the other's 2 count as floor(2 * share) = 1 as soon as its window is over.
    assert 10 < seconds_until_admitted([own, other], 3, now) < 10.01
    # Limit 2: its last hit slides out half-way through the next window, 40 s from now.
    assert 40 < seconds_until_admitted([own, other], 2, now) < 40.01
    assert (own.current, other.current) == (1, 2)  # the counts themselves are left as they were


def test_an_exhausted_budget_is_free_again_two_periods_later_at_the_latest() -> None:
    now = 1_000_000.0
    assert seconds_until_admitted([WindowCount(MINUTE, now, 0, 7)], 0, now) == 2 * MINUTE


def test_a_count_drops_when_its_share_of_the_previous_window_does() -> None:
    count = WindowCount(MINUTE, 0.0, 0, 4)
    assert count.counted(MINUTE) == 4  # just rolled: the previous window wholly inside
    assert count.next_drop(MINUTE) == pytest.approx(MINUTE, abs=0.001)  # floor(4 * a share under 1) = 3
    assert count.counted(MINUTE + 0.001) == 3
    drop = count.next_drop(MINUTE + 0.001)
    assert drop == pytest.approx(MINUTE + MINUTE / 4, abs=0.001)
    assert count.counted(drop) == 2
    assert count.counted(2 * MINUTE - 0.001) == 0
    assert count.next_drop(3 * MINUTE) == math.inf


def test_a_clock_set_back_never_counts_more_than_was_hit() -> None:
    count = WindowCount(MINUTE, 1000.0, 5, 1)
    assert count.counted(990.0) == 6


def test_a_count_survives_its_trip_through_redis() -> None:
    count = WindowCount(MINUTE, 1_000_000.125, 3, 7)
    assert decode(encode(count).encode(), MINUTE) == count
    assert decode(b"not a count", MINUTE) is None
