"""Rate limits: sliding-window counters in Redis (the `limits` package's atomic Lua scripts), failing open.

A rule is a limit plus a key; a request is checked against every rule that applies to it and refused at the first
one it exceeds. When Redis does not answer within a short deadline the request goes through and the metric says so:
a rate limiter must never take the API down with it.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from gateway import metrics

_parsed = functools.lru_cache(maxsize=64)(parse)  # a handful of configured limits, parsed once each


@dataclass(frozen=True)
class Rule:
    """One limit applied to one subject (e.g. `auth` per IP, `user` per user id)."""

    name: str
    limit: RateLimitItem
    subject: str


@dataclass(frozen=True)
class Refusal:
    """The rule a request exceeded and how long to wait before trying again."""

    rule: str
    retry_after_seconds: int


class RateLimiter:
    """Checks requests against rules; keys live under `key_prefix` in the shared Redis client's pool."""

    def __init__(self, redis: aioredis.Redis, key_prefix: str, timeout_seconds: float) -> None:
        storage = RedisStorage("async+redis://", implementation="redispy", key_prefix=key_prefix,
                               wrap_exceptions=True,
                               # limits takes connection_pool (documented) but annotates **options as scalars
                               connection_pool=redis.connection_pool)  # type: ignore[arg-type]
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._timeout = timeout_seconds

    @staticmethod
    def rule(name: str, limit: str, subject: str) -> Rule:
        return Rule(name, _parsed(limit), subject)

    async def check(self, rules: list[Rule]) -> Refusal | None:
        """Count the request against each rule in turn; the first refusal, or None (also when Redis is down)."""
        try:
            async with asyncio.timeout(self._timeout):
                for rule in rules:
                    if not await self._limiter.hit(rule.limit, rule.name, rule.subject):
                        return await self._refusal(rule)
        except Exception:  # any storage failure means "let it through", counted
            metrics.REDIS_FAIL_OPEN.labels(check="rate_limit").inc()
            return None
        return None

    async def _refusal(self, rule: Rule) -> Refusal:
        metrics.RATE_LIMITED.labels(rule=rule.name).inc()
        stats = await self._limiter.get_window_stats(rule.limit, rule.name, rule.subject)
        return Refusal(rule.name, max(1, math.ceil(stats.reset_time - time.time())))
