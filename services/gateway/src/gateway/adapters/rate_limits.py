"""Rate limits counted in process memory and shared through Redis in batches: no Redis round trip per request.

A request is checked against its rules at once, with sliding-window counters (`domain/rate_windows`), and refused at
the first rule it exceeds. Every sync interval a background task writes this process's count of each key it hit
since (one Redis hash per key, one field per process, expiring with the count) and reads the other processes' fields
back, all in one pipelined round trip, so that several gateway processes share one budget:

- one process alone is exact;
- with several, each decides on the others' counts as of its last sync, so a key can go over its limit by at most
  what the processes admit for it within one sync interval (a key one process sees for the first time included:
  its count there starts alone and meets the others' at the next sync);
- for rules marked `learn_first` (sign-in and registration per address: password guessing), the first hit on a key
  this process does not know yet waits (at most the Redis timeout) for a sync that reads the others' counts, so a
  process that just started hands out no fresh budget at all. Other rules do not wait: a burst of new clients (each
  a key of its own) would otherwise pay a Redis round trip per request.

A sync is one pipelined round trip: per key one script that writes this process's count, renews the hash's life
and reads the others' counts back.

When Redis does not answer, every process goes on limiting with its own counts (better than letting everything
through; counted in the fail-open metric as decided without Redis) and shares them again once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice

import redis.asyncio as aioredis
from limits import RateLimitItem, parse

from gateway import metrics
from gateway.domain.rate_windows import WindowCount, seconds_until_admitted, total
from smartslot_common.logging import get_logger

log = get_logger(__name__)
_parsed = functools.lru_cache(maxsize=64)(parse)  # a handful of configured limits, parsed once each
KEYS_PER_ROUND_TRIP = 256
# KEYS[1]: a counter's shared hash; ARGV: this process's field, its count ('' writes nothing), the hash's life in ms.
# Returns the other processes' counts.
SHARE = """
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
local fields, others = redis.call('HGETALL', KEYS[1]), {}
for i = 1, #fields, 2 do
  if fields[i] ~= ARGV[1] then others[#others + 1] = fields[i + 1] end
end
return others
"""
SWEEP_SECONDS = 5.0  # how often counts that are over and done with are forgotten


@dataclass(frozen=True, slots=True)
class Rule:
    """One limit applied to one subject (e.g. `auth` per IP, `user` per user id)."""

    name: str
    limit: RateLimitItem
    subject: str
    key: str  # the counter's name: rule, limit and subject (a changed limit starts a counter of its own)
    learn_first: bool = False  # a key new to this process waits for the others' counts before deciding


@dataclass(frozen=True)
class Refusal:
    """The rule a request exceeded and how long to wait before trying again."""

    rule: str
    retry_after_seconds: int


@dataclass(slots=True)
class SharedCount:
    """One key's counts: this process's own, and the other processes' as of the last sync."""

    limit: int
    own: WindowCount
    others: list[WindowCount] = field(default_factory=list)

    def counted(self, now: float) -> int:
        return self.own.counted(now) + (total(self.others, now) if self.others else 0)


def shared_key(prefix: str, counter: str) -> str:
    """The Redis hash where every process keeps its count of one counter (a rule's `key`)."""
    return f"{prefix}:{counter}"


def encode(count: WindowCount) -> str:
    """A process's count as its field in the shared hash: window start (epoch seconds), previous, current."""
    return f"{count.start:.3f} {count.previous} {count.current}"


def decode(value: bytes | str, period: float) -> WindowCount | None:
    """A field of the shared hash; None when it is not one this code wrote."""
    try:
        start, previous, current = (value.decode() if isinstance(value, bytes) else value).split()
        return WindowCount(period, float(start), int(previous), int(current))
    except ValueError:
        return None


def _chunks(names: Iterable[str], size: int) -> Iterable[list[str]]:
    """`names` in lists of at most `size` (one pipelined round trip each)."""
    remaining = iter(names)
    while chunk := list(islice(remaining, size)):
        yield chunk


class RateLimiter:
    """Checks requests against rules in memory; shares the counts under `key_prefix` in Redis (see `run`)."""

    def __init__(self, redis: aioredis.Redis, key_prefix: str, timeout_seconds: float,
                 sync_interval_seconds: float = 0.2, clock: Callable[[], float] = time.time) -> None:
        self._redis, self._prefix, self._clock = redis, key_prefix, clock  # wall clock: other processes read it
        self._timeout, self._interval = timeout_seconds, sync_interval_seconds
        self._counts: dict[str, SharedCount] = {}
        self._changed: set[str] = set()  # counted here since their last sync
        self._unread: set[str] = set()  # first seen here: the others' counts are wanted
        self._process = uuid.uuid4().hex  # this process's field in every shared hash
        self._wake = asyncio.Event()
        self._next_sync: asyncio.Future[None] | None = None
        self._syncing = False  # `run` is on
        self._swept_at = 0.0
        self._share = redis.register_script(SHARE)
        self.shared = True  # Redis took the last sync
        self._decided_alone = metrics.REDIS_FAIL_OPEN.labels(check="rate_limit")

    @staticmethod
    @functools.lru_cache(maxsize=65_536)  # the callers seen lately: a request's rules are built once per subject
    def rule(name: str, limit: str, subject: str, learn_first: bool = False) -> Rule:
        item = _parsed(limit)
        return Rule(name, item, subject, f"{name}/{item.amount}/{item.get_expiry()}:{subject}", learn_first)

    def knows(self, rules: Iterable[Rule]) -> bool:
        """Whether `admit` alone may decide: no rule that learns first has a key this process has not counted."""
        return all(not rule.learn_first or rule.key in self._counts for rule in rules)

    async def check(self, rules: Iterable[Rule]) -> Refusal | None:
        """Count the request against each rule in turn; the first refusal, or None."""
        rules = tuple(rules)
        unknown = [rule for rule in rules if rule.learn_first and rule.key not in self._counts]
        if unknown:
            await self._learn(unknown)
        return self.admit(rules)

    def admit(self, rules: Iterable[Rule]) -> Refusal | None:
        """`check` on what this process knows now, without waiting for anything."""
        now = self._clock()
        if not self.shared:
            self._decided_alone.inc()
        for rule in rules:
            count = self._counts.get(rule.key) or self._add(rule)
            if count.counted(now) + 1 > count.limit:
                return self._refusal(rule, count, now)
            count.own.current += 1
            self._changed.add(rule.key)
        return None

    def _add(self, rule: Rule) -> SharedCount:
        count = self._counts[rule.key] = SharedCount(rule.limit.amount, WindowCount(float(rule.limit.get_expiry())))
        return count

    async def _learn(self, rules: list[Rule]) -> None:
        """Wait (briefly) for the other processes' counts of keys this process has not seen yet."""
        for rule in rules:
            self._add(rule)
            self._unread.add(rule.key)
        if not (self._syncing and self.shared):
            return
        if self._next_sync is None:
            self._next_sync = asyncio.get_running_loop().create_future()
        upcoming = self._next_sync
        self._wake.set()
        with contextlib.suppress(TimeoutError):  # then this process's own counts decide
            async with asyncio.timeout(self._timeout):
                await asyncio.shield(upcoming)

    def _refusal(self, rule: Rule, count: SharedCount, now: float) -> Refusal:
        metrics.RATE_LIMITED.labels(rule=rule.name).inc()
        wait = seconds_until_admitted([count.own, *count.others], count.limit, now)
        return Refusal(rule.name, max(1, math.ceil(wait)))

    async def run(self) -> None:
        """Share the counts every sync interval, or at once when a request waits to learn a key; until cancelled."""
        self._syncing = True
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self._wake.wait()
                self._wake.clear()
                await self.sync()
        finally:
            self._syncing = False

    async def sync(self) -> None:
        """One exchange with Redis: write what changed here, read the others' counts of those keys."""
        done, self._next_sync = self._next_sync, None
        names, self._changed, self._unread = self._changed | self._unread, set(), set()
        try:
            for chunk in _chunks(names, KEYS_PER_ROUND_TRIP):
                async with asyncio.timeout(self._timeout):
                    await self._exchange(chunk)
        except Exception as error:  # whatever Redis did, requests go on being limited here
            self._changed |= {name for name in names if name in self._counts}
            if self.shared:
                log.warning("rate_limits_not_shared", error=str(error) or type(error).__name__)
            self.shared = False
        else:
            if not self.shared:
                log.info("rate_limits_shared_again")
            self.shared = True
        finally:
            if done is not None and not done.done():
                done.set_result(None)
        self._sweep()

    async def _exchange(self, names: Iterable[str]) -> None:
        now = self._clock()
        read: list[SharedCount] = []
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                if (count := self._counts.get(name)) is None:
                    continue
                # An empty value writes nothing: a count that no longer matters is only read.
                mine = "" if count.own.gone(now) else encode(count.own)
                life_ms = math.ceil(2000 * count.own.period)  # as long as the count can matter
                await self._share(keys=[shared_key(self._prefix, name)], args=[self._process, mine, life_ms],
                                  client=pipe)
                read.append(count)
            replies = await pipe.execute()
        for count, others in zip(read, replies, strict=True):
            decoded = (decode(value, count.own.period) for value in others)
            count.others = [other for other in decoded if other is not None and not other.gone(now)]

    def _sweep(self) -> None:
        """Forget keys nobody has counted for two periods (memory stays bounded by the recently active keys)."""
        now = self._clock()
        if now - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = now
        pending = self._changed | self._unread
        over = [name for name, count in self._counts.items()
                if name not in pending and count.own.gone(now) and all(other.gone(now) for other in count.others)]
        for name in over:
            del self._counts[name]
