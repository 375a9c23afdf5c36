"""Role freshness: a role change writes the user's new role to Redis, and tokens carrying another role stop working.

Tokens carry the role (no database read per request). When an admin changes a role, the gateway stores
`role:<user id> = <new role>` with a TTL equal to the access-token lifetime (plus a minute): any token issued before
the change has expired by the time the mark does, so a missing mark means "no change the user's live tokens could
predate". A token whose role differs from a live mark is refused (`401`).

The mark is also published, and every gateway process follows the channel and keeps the live marks in memory, so a
request costs no Redis round trip: on (re)subscribing a process loads every mark with SCAN before answering from
memory again, so nothing changed while it was disconnected is missed. A change reaches the other processes as fast
as Redis delivers a message. While a process is not following (starting, Redis unreachable, connection lost) it
reads the mark from Redis on every request instead, so a demotion still bites on the next request; with Redis
down that read fails open (counted), and the short token lifetime bounds the window.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis

from gateway import metrics
from smartslot_common.logging import get_logger
from smartslot_common.redis import REDIS_UNAVAILABLE
from smartslot_common.redis_channel import ChannelFollower

_UNAVAILABLE: tuple[type[BaseException], ...] = (*REDIS_UNAVAILABLE, TimeoutError)
log = get_logger(__name__)
KEYS_PER_ROUND_TRIP = 500
LOAD_SECONDS = 30.0  # loading every mark; until then requests read their user's mark from Redis


class RoleMarks:
    """Writes the per-user role marks under `prefix`, follows them in memory, and says whether a token's role is
    still the user's."""

    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_seconds: int, timeout_seconds: float,
                 resubscribe_seconds: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis, self.prefix, self.ttl_seconds, self.timeout_seconds = redis, prefix, ttl_seconds, timeout_seconds
        self.channel = prefix + ":changes"
        self.client_name = f"gateway-role-marks-{uuid.uuid4().hex[:12]}"
        self._clock = clock
        self._marks: dict[uuid.UUID, tuple[str, float]] = {}  # user: (role, until, on `clock`)
        self._follower = ChannelFollower(
            redis, self.channel, self.client_name, timeout_seconds=timeout_seconds,
            resubscribe_seconds=resubscribe_seconds, on_message=self._apply, on_subscribed=self._catch_up,
            on_following=lambda following: metrics.ROLE_MARKS_FOLLOWED.set(int(following)),
        )
        metrics.ROLE_MARKS_FOLLOWED.set(0)

    @property
    def following(self) -> bool:
        """Subscribed and loaded: memory answers."""
        return self._follower.following

    def _key(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}:{user_id}"

    async def mark(self, user_id: uuid.UUID, role: str) -> bool:
        """Record the user's new role and tell every gateway; False (logged, counted) when Redis did not take it."""
        self._remember(user_id, role, self.ttl_seconds)  # this process refuses the old role at once
        try:
            async with asyncio.timeout(self.timeout_seconds):
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.set(self._key(user_id), role, ex=self.ttl_seconds)
                    pipe.publish(self.channel, f"{user_id} {role}")
                    await pipe.execute()
        except _UNAVAILABLE as error:
            metrics.REDIS_FAIL_OPEN.labels(check="role_mark").inc()
            log.warning("role_mark_not_written", user_id=str(user_id), error=str(error) or type(error).__name__)
            return False
        return True

    def remembered(self, user_id: uuid.UUID, role: str) -> bool | None:
        """Whether `role` is still the user's, from memory; None while memory cannot say (not following)."""
        if not self.following:
            return None
        entry = self._marks.get(user_id)
        if entry is None:
            return True
        marked, until = entry
        if until <= self._clock():
            self._marks.pop(user_id, None)
            return True
        return marked == role

    async def is_current(self, user_id: uuid.UUID, role: str) -> bool:
        """False only when the user's role has since changed; from memory while following, else from Redis (which,
        down, counts as current)."""
        known = self.remembered(user_id, role)
        if known is not None:
            return known
        try:
            async with asyncio.timeout(self.timeout_seconds):
                marked = await self.redis.get(self._key(user_id))
        except _UNAVAILABLE:
            metrics.REDIS_FAIL_OPEN.labels(check="role_freshness").inc()
            return True
        return marked is None or marked == role.encode()

    def _remember(self, user_id: uuid.UUID, role: str, ttl_seconds: float) -> None:
        self._marks[user_id] = (role, self._clock() + ttl_seconds)

    async def follow(self) -> None:
        """Follow the changes until cancelled; after any break, read per request and subscribe again."""
        await self._follower.follow()

    async def _catch_up(self) -> None:
        """Every mark written before the subscription (SCAN walks the whole keyspace, caches included)."""
        async with asyncio.timeout(LOAD_SECONDS):
            self._marks = await self._load()

    async def _load(self) -> dict[uuid.UUID, tuple[str, float]]:
        """Every live mark in Redis, with the time it expires."""
        marks: dict[uuid.UUID, tuple[str, float]] = {}
        keys = [key async for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000, _type="STRING")]
        for start in range(0, len(keys), KEYS_PER_ROUND_TRIP):
            chunk = keys[start:start + KEYS_PER_ROUND_TRIP]
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.get(key)
                    pipe.pttl(key)
                replies = await pipe.execute()
            now = self._clock()
            for key, role, ttl_ms in zip(chunk, replies[::2], replies[1::2], strict=True):
                user_id = _user_of(key.decode().rsplit(":", 1)[-1])
                if user_id is not None and role is not None and ttl_ms > 0:
                    marks[user_id] = (role.decode(), now + ttl_ms / 1000)
        return marks

    def _apply(self, data: bytes) -> None:
        user, _, role = data.decode().partition(" ")
        if (user_id := _user_of(user)) is not None and role:
            self._remember(user_id, role, self.ttl_seconds)


def _user_of(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
