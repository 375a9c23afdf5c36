"""Fences followed in memory: every invalidation also publishes the fences it raised, and each process keeps the
highest position of each fence it heard, so an answer it keeps is re-validated without a Redis round trip.

Memory knows only the raises published while this process was subscribed. So an answer is judged from memory only
once it has passed one Redis read of its fences during the current subscription (its `epoch`): any raise before
that read was in Redis, any raise after it reaches this process's memory. A raise is known here as fast as Redis
delivers a message (an invalidation is itself asynchronous: it follows the booking's answer by an event). Entries
last as long as the fences do in Redis.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis

from availability import metrics
from smartslot_common.redis_channel import ChannelFollower

TIMEOUT_SECONDS = 1.0
RESUBSCRIBE_SECONDS = 0.5
PRUNE_EVERY = 4096  # raises between two sweeps of expired entries


class FollowedFences:
    """The fences raised since this process subscribed to `channel` (and by itself), with their WAL positions."""

    def __init__(self, redis: aioredis.Redis, channel: str, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.channel = channel
        self._ttl_seconds, self._clock = ttl_seconds, clock
        self._fences: dict[str, tuple[int, float]] = {}  # key: (position, until, on `clock`)
        self._raises = 0
        self.epoch = 0  # one per subscription; 0: never subscribed
        self._follower = ChannelFollower(
            redis, channel, f"availability-fences-{uuid.uuid4().hex[:12]}", timeout_seconds=TIMEOUT_SECONDS,
            resubscribe_seconds=RESUBSCRIBE_SECONDS, on_message=self._apply, on_following=self._following,
        )
        metrics.FENCES_FOLLOWED.set(0)

    def trusted_epoch(self) -> int | None:
        """The current subscription's number while raises are followed; None while memory cannot say."""
        return self.epoch if self._follower.following else None

    def highest(self, keys: Iterable[str]) -> int:
        """The highest position among these fences, as far as this process heard (0: none raised)."""
        now, highest = self._clock(), 0
        for key in keys:
            fence = self._fences.get(key)
            if fence is not None and fence[1] > now:
                highest = max(highest, fence[0])
        return highest

    def raised(self, keys: Iterable[str], position: int) -> None:
        """These fences now stand at `position` or higher."""
        until = self._clock() + self._ttl_seconds
        for key in keys:
            current = self._fences.get(key)
            self._fences[key] = (max(position, current[0]) if current else position, until)
        self._raises += 1
        if self._raises % PRUNE_EVERY == 0:
            self._prune()

    async def follow(self) -> None:
        """Follow the published raises until cancelled."""
        await self._follower.follow()

    def _apply(self, data: bytes) -> None:
        """A published raise: `<position> <fence key> ...`; anything else is ignored."""
        position, *keys = data.decode(errors="replace").split(" ")
        if position.isdigit() and keys:
            self.raised(keys, int(position))

    def _following(self, following: bool) -> None:
        if following:
            self.epoch += 1
        metrics.FENCES_FOLLOWED.set(int(following))

    def _prune(self) -> None:
        now = self._clock()
        self._fences = {key: fence for key, fence in self._fences.items() if fence[1] > now}
