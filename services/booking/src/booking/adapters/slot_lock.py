"""The Redis lock that turns contention away before it reaches PostgreSQL (Redlock over N masters).

Each master gets `SET key token NX PX ttl` through redis-py's `Lock` (random token, Lua compare-and-delete on
release, Lua compare-and-extend); the lock is held when a majority agreed within the validity time. It is for
speed only: correctness comes from the slot row's version (the fencing token) and PostgreSQL's constraints.

Commands in flight are bounded: redis-py's pool refuses the connection past its size (100 by default) rather than
queueing for it, and under a storm that refusal would read as "Redis cannot vote" and send every excess request to
PostgreSQL. Waiting a moment for a free connection keeps the storm in Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import LockError

from smartslot_common.redis import REDIS_UNAVAILABLE

CLOCK_DRIFT_FACTOR = 0.01
MAX_IN_FLIGHT = 64  # under redis-py's default pool size, leaving connections to the cache and health checks


class LockUnavailable(Exception):
    """Not enough Redis masters answered: the caller goes on in database-only mode."""


@dataclass(frozen=True)
class HeldLock:
    """A lock won on a majority: its key and token, to release or extend later."""

    key: str
    token: str


class SlotLock:
    """Redlock over independent masters (one in development)."""

    def __init__(self, masters: list[aioredis.Redis], key_prefix: str, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._masters = masters
        self._prefix = key_prefix
        self._quorum = len(masters) // 2 + 1
        self._in_flight = asyncio.Semaphore(max_in_flight)

    def key(self, slot_id: object) -> str:
        return f"{self._prefix}slot:{slot_id}:lock"

    async def _try(self, master: aioredis.Redis, key: str, token: str, ttl_ms: int) -> bool | None:
        """True won, False taken, None master unreachable."""
        try:
            async with self._in_flight:
                return bool(await master.lock(key, timeout=ttl_ms / 1000).do_acquire(token))
        except REDIS_UNAVAILABLE:
            return None

    async def acquire(self, slot_id: object, ttl_ms: int) -> HeldLock | None:
        """The lock, or None when another holder has it; `LockUnavailable` when Redis cannot vote."""
        key, token = self.key(slot_id), secrets.token_hex(16)
        started = time.monotonic()
        votes = [await self._try(master, key, token, ttl_ms) for master in self._masters]
        elapsed_ms = (time.monotonic() - started) * 1000
        validity = ttl_ms - elapsed_ms - ttl_ms * CLOCK_DRIFT_FACTOR
        if votes.count(True) >= self._quorum and validity > 0:
            return HeldLock(key, token)
        if any(vote is not False for vote in votes):  # a plain loss everywhere has nothing of ours to roll back
            await self.release(HeldLock(key, token))
        if votes.count(None) > len(self._masters) - self._quorum:
            raise LockUnavailable(f"{votes.count(None)} of {len(self._masters)} Redis masters unreachable")
        return None

    async def _extend_on(self, master: aioredis.Redis, held: HeldLock, ttl_ms: int) -> bool:
        lock = master.lock(held.key, timeout=ttl_ms / 1000, thread_local=False)
        lock.local.token = held.token
        try:
            async with self._in_flight:
                return bool(await lock.do_extend(ttl_ms / 1000, replace_ttl=True))
        except (LockError, *REDIS_UNAVAILABLE):
            return False

    async def extend(self, held: HeldLock, ttl_ms: int) -> bool:
        """Set the lock's remaining life to `ttl_ms` where the token still matches; True when a majority did."""
        started = time.monotonic()
        votes = [await self._extend_on(master, held, ttl_ms) for master in self._masters]
        validity = ttl_ms - (time.monotonic() - started) * 1000 - ttl_ms * CLOCK_DRIFT_FACTOR
        return votes.count(True) >= self._quorum and validity > 0

    async def release_token(self, slot_id: object, token: str) -> None:
        """Release a slot's lock by the token stored on its appointment (`lock_token`), e.g. on confirm or cancel."""
        await self.release(HeldLock(self.key(slot_id), token))

    async def release(self, held: HeldLock) -> None:
        """Release on every master where the token still matches; unreachable masters expire it by TTL."""
        for master in self._masters:
            try:
                async with self._in_flight:
                    await master.lock(held.key).do_release(held.token)
            except (LockError, *REDIS_UNAVAILABLE):
                continue
