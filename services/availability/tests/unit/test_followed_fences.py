"""Fences followed in memory: a raise is remembered at its highest position for the fences' lifetime, and a kept
answer is judged from memory only once Redis said it was current during the subscription that memory covers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import redis.asyncio as aioredis

from availability.adapters.cache import PageCache
from availability.adapters.followed_fences import FollowedFences
from availability.domain.invalidation import EVERY_PROVIDER, DayScope, Invalidation
from availability.service_layer.answers import Answer, Answers, kept_answer

TTL = 3600
DAY, NEXT_DAY = date(2026, 12, 7), date(2026, 12, 8)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def never_contacted() -> aioredis.Redis:
    return aioredis.Redis.from_url("redis://127.0.0.1:1/0")


def fences(clock: FakeClock) -> FollowedFences:
    return FollowedFences(never_contacted(), "test:avail:fences", TTL, clock=clock)


def subscribe(followed: FollowedFences) -> None:
    """What the follower does once its subscription is confirmed."""
    followed._follower._set_following(True)


def test_a_fence_stands_at_the_highest_position_heard_until_it_expires() -> None:
    clock = FakeClock()
    followed = fences(clock)
    followed.raised(["a", "b"], 20)
    followed.raised(["a"], 10)  # a late, lower raise changes nothing
    assert followed.highest(["a"]) == 20
    assert followed.highest(["b", "c"]) == 20
    assert followed.highest(["c"]) == 0
    clock.now += TTL
    assert followed.highest(["a", "b"]) == 0


def test_a_published_raise_is_applied_and_anything_else_ignored() -> None:
    followed = fences(FakeClock())
    followed._apply(b"42 x:fence:s:p:2026-12-07 x:fence")
    for junk in (b"", b"42", b"not-a-position x:fence", b"\xff\xfe x"):
        followed._apply(junk)
    assert followed.highest(["x:fence:s:p:2026-12-07"]) == 42
    assert followed.highest(["x:fence"]) == 42
    assert followed.highest(["42", "x"]) == 0


def test_each_subscription_is_a_new_epoch_and_none_while_not_following() -> None:
    followed = fences(FakeClock())
    assert followed.trusted_epoch() is None
    subscribe(followed)
    assert followed.trusted_epoch() == 1
    followed._follower._set_following(False)
    assert followed.trusted_epoch() is None
    subscribe(followed)
    assert followed.trusted_epoch() == 2


class CountedCache(PageCache):
    """A page cache whose Redis fence reads are counted and answered from `fences_in_redis`."""

    def __init__(self) -> None:
        super().__init__(never_contacted(), "test:", 60, TTL)
        self.reads = 0
        self.fences_in_redis = 0

    async def fences(self, service_id: str, scope: str, days: list[date]) -> list[int]:
        self.reads += 1
        return [self.fences_in_redis for _ in days]


def kept(cache: CountedCache, lsn: int) -> tuple[Answers, str, str]:
    answers, service = Answers(1 << 20), str(uuid.uuid4())
    answers.keep("q", Answer(b"[]", service, EVERY_PROVIDER, [DAY, NEXT_DAY], [lsn, lsn], until=10**12))
    return answers, "q", service


def served(answers: Answers, cache: CountedCache, query: str) -> bytes | None:
    return asyncio.run(kept_answer(answers, cache, query, now=1.0))


def test_without_following_every_serving_reads_its_fences_from_redis() -> None:
    cache = CountedCache()
    answers, query, _ = kept(cache, lsn=50)
    assert served(answers, cache, query) == b"[]"
    assert served(answers, cache, query) == b"[]"
    assert cache.reads == 2


def test_once_checked_in_this_subscription_memory_judges_the_answer() -> None:
    cache = CountedCache()
    subscribe(cache.followed)
    answers, query, service = kept(cache, lsn=50)
    assert served(answers, cache, query) == b"[]"
    assert served(answers, cache, query) == b"[]"
    assert cache.reads == 1

    raise_day = Invalidation(days=frozenset({DayScope(service, str(uuid.uuid4()), DAY)}))
    cache.followed.raised(cache._invalidation_keys(raise_day)[0], 60)  # as another process's message would
    assert served(answers, cache, query) is None  # stale, known without asking Redis
    assert cache.reads == 1


def test_a_new_subscription_asks_redis_again_before_memory_is_trusted() -> None:
    cache = CountedCache()
    subscribe(cache.followed)
    answers, query, _ = kept(cache, lsn=50)
    served(answers, cache, query)
    cache.followed._follower._set_following(False)  # a raise published now would be missed
    subscribe(cache.followed)
    cache.fences_in_redis = 70  # ... and Redis has it
    assert served(answers, cache, query) is None
    assert cache.reads == 2


def test_an_answer_is_judged_day_by_day() -> None:
    cache = CountedCache()
    subscribe(cache.followed)
    answers, service = Answers(1 << 20), str(uuid.uuid4())
    answers.keep("q", Answer(b"[]", service, EVERY_PROVIDER, [DAY, NEXT_DAY], [50, 80], until=10**12))
    assert served(answers, cache, "q") == b"[]"

    def raise_to(day: date, position: int) -> None:
        scope = Invalidation(days=frozenset({DayScope(service, str(uuid.uuid4()), day)}))
        cache.followed.raised(cache._invalidation_keys(scope)[0], position)

    raise_to(NEXT_DAY, 70)  # the next day's page was read after that change: still current
    assert served(answers, cache, "q") == b"[]"
    raise_to(DAY, 60)  # the first day's page was read before it
    assert served(answers, cache, "q") is None
