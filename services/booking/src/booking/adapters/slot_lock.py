"""The Redis lock that turns contention away before it reaches PostgreSQL (Redlock over N masters).

Each master gets `SET key token NX PX ttl` through redis-py's `Lock` (random token, Lua compare-and-delete on
release, Lua compare-and-extend); the lock is held when a majority agreed within the validity time. It is for
speed only: correctness comes from the slot row's version (the fencing token) and PostgreSQL's constraints.

Commands in flight are bounded: redis-py's pool refuses the connection past its size (100 by default) rather than
queueing for it, and under a storm that refusal would read as "Redis cannot vote" and send every excess request to
PostgreSQL. Waiting a moment for a free connection keeps the storm in Redis.

A storm's losers need not reach Redis at all: a claim that finds the lock taken for longer than a gate lives (a
one-seat hold keeps it until its deadline) remembers the slot as held, and a claim that finds the slot full
remembers that, for a moment (`remember_seconds`, one second by default), so the next public claims in this process
are refused from memory. So does a claim that took a slot's last seat. Releasing a slot's lock here forgets it at
once; elsewhere the memory is at most that moment stale, which can only turn a client away, never let one in
(PostgreSQL decides who gets a seat).

An instant booking keeps no lock after its request, so it needs no Redis at all: claims on one slot take turns in
this process (`take_turn`), a storm's losers wait for the claim in flight and are then refused from memory, and
PostgreSQL's compare-and-set settles the rare race with another process.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import LockError

from smartslot_common.redis import REDIS_UNAVAILABLE

# A lock command that failed: the token no longer matched, or the master could not be reached.
_LOCK_FAILED: tuple[type[BaseException], ...] = (LockError, *REDIS_UNAVAILABLE)

CLOCK_DRIFT_FACTOR = 0.01
MAX_IN_FLIGHT = 64  # under redis-py's default pool size, leaving connections to the cache and health checks
REMEMBER_SECONDS = 1.0
MAX_REMEMBERED = 10_000
HELD, FULL = "held", "full"
# SET NX PX, and for a loser the holder's remaining life in the same round trip: {1, 0} won, {0, pttl} taken.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, 0} end
return {0, redis.call('PTTL', KEYS[1])}
"""


class LockUnavailable(Exception):
    """Not enough Redis masters answered: the caller goes on in database-only mode."""


@dataclass(frozen=True)
class SlotLockLease:
    """A lock won on a majority: its key and token, to release or extend later."""

    key: str
    token: str


class SlotLock:
    """Redlock over independent masters (one in development)."""

    def __init__(
        self, masters: list[aioredis.Redis], key_prefix: str, max_in_flight: int = MAX_IN_FLIGHT,
        remember_seconds: float = REMEMBER_SECONDS, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._masters = masters
        self._claims = [master.register_script(_CLAIM) for master in masters]
        self._prefix = key_prefix
        self._quorum = len(masters) // 2 + 1
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._remember_seconds = remember_seconds
        self._clock = clock
        self._remembered: dict[str, tuple[float, str]] = {}  # key -> (until, HELD or FULL)
        self._turns: dict[str, asyncio.Event] = {}  # key -> set when the claim in flight here ends

    def key(self, slot_id: object) -> str:
        return f"{self._prefix}slot:{slot_id}:lock"

    async def _try(self, claim: AsyncScript, key: str, token: str, ttl_ms: int) -> int | None:
        """-1 won; the holder's remaining milliseconds when taken; None when the master is unreachable."""
        try:
            async with self._in_flight:
                won, remaining_ms = await claim(keys=[key], args=[token, ttl_ms])
        except REDIS_UNAVAILABLE:
            return None
        return -1 if won else max(0, int(remaining_ms))

    async def acquire(self, slot_id: object, ttl_ms: int) -> SlotLockLease | None:
        """The lock, or None when another holder has it; `LockUnavailable` when Redis cannot vote."""
        key, token = self.key(slot_id), secrets.token_hex(16)
        started = time.monotonic()
        votes = [await self._try(claim, key, token, ttl_ms) for claim in self._claims]
        elapsed_ms = (time.monotonic() - started) * 1000
        validity = ttl_ms - elapsed_ms - ttl_ms * CLOCK_DRIFT_FACTOR
        if votes.count(-1) >= self._quorum and validity > 0:
            return SlotLockLease(key, token)
        if any(vote is None or vote == -1 for vote in votes):  # a plain loss everywhere has nothing of ours to undo
            await self.release(SlotLockLease(key, token))
        if votes.count(None) > len(self._masters) - self._quorum:
            raise LockUnavailable(f"{votes.count(None)} of {len(self._masters)} Redis masters unreachable")
        taken = [vote for vote in votes if vote is not None and vote >= 0]
        if len(taken) >= self._quorum and min(taken) > ttl_ms:  # kept beyond a gate: a one-seat hold's lock
            self._remember(key, HELD, min(taken) / 1000)
        return None

    def recently_refused(self, slot_id: object) -> str | None:
        """HELD or FULL when a claim in this process found the slot so a moment ago; None otherwise."""
        remembered = self.remembered(slot_id)
        return None if remembered is None else remembered[0]

    def remembered(self, slot_id: object) -> tuple[str, float] | None:
        """HELD or FULL and the seconds this process goes on refusing the slot from memory; None when it does not."""
        key = self.key(slot_id)
        remembered = self._remembered.get(key)
        if remembered is None:
            return None
        until, why = remembered
        left = until - self._clock()
        if left <= 0:
            del self._remembered[key]
            return None
        return why, left

    def remember(self, slot_id: object, why: str) -> None:
        """The slot was found (or just left) full, for HELD or FULL: the next public claims here are refused."""
        self._remember(self.key(slot_id), why, self._remember_seconds)

    def take_turn(self, slot_id: object) -> asyncio.Event | None:
        """Become the claim in flight on the slot in this process (None), or the end of the one in flight to wait
        for before asking again; `end_turn` ends it."""
        key = self.key(slot_id)
        running = self._turns.get(key)
        if running is None:
            self._turns[key] = asyncio.Event()
        return running

    def end_turn(self, slot_id: object) -> None:
        """The claim in flight on the slot is over: the claims waiting for it ask again."""
        ended = self._turns.pop(self.key(slot_id), None)
        if ended is not None:
            ended.set()

    def forget(self, slot_id: object) -> None:
        """A seat of the slot may be free again: the next claim asks Redis and PostgreSQL."""
        self._remembered.pop(self.key(slot_id), None)

    def _remember(self, key: str, why: str, seconds: float) -> None:
        if self._remember_seconds <= 0:
            return
        now = self._clock()
        if len(self._remembered) >= MAX_REMEMBERED:
            self._remembered = {k: v for k, v in self._remembered.items() if v[0] > now}
            if len(self._remembered) >= MAX_REMEMBERED:
                self._remembered.clear()
        self._remembered[key] = (now + min(seconds, self._remember_seconds), why)

    async def _extend_on(self, master: aioredis.Redis, lease: SlotLockLease, ttl_ms: int) -> bool:
        lock = master.lock(lease.key, timeout=ttl_ms / 1000, thread_local=False)
        lock.local.token = lease.token
        try:
            async with self._in_flight:
                return bool(await lock.do_extend(ttl_ms / 1000, replace_ttl=True))
        except _LOCK_FAILED:
            return False

    async def extend(self, lease: SlotLockLease, ttl_ms: int) -> bool:
        """Set the lock's remaining life to `ttl_ms` where the token still matches; True when a majority did."""
        started = time.monotonic()
        votes = [await self._extend_on(master, lease, ttl_ms) for master in self._masters]
        validity = ttl_ms - (time.monotonic() - started) * 1000 - ttl_ms * CLOCK_DRIFT_FACTOR
        return votes.count(True) >= self._quorum and validity > 0

    async def release_token(self, slot_id: object, token: str) -> None:
        """Release a slot's lock by the token stored on its appointment (`lock_token`), e.g. on confirm or cancel."""
        await self.release(SlotLockLease(self.key(slot_id), token))

    async def release(self, lease: SlotLockLease) -> None:
        """Release on every master where the token still matches; unreachable masters expire it by TTL."""
        self._remembered.pop(lease.key, None)
        for master in self._masters:
            try:
                async with self._in_flight:
                    # redis-py annotates the token as bytes; its release script compares a str token the same way.
                    await master.lock(lease.key).do_release(lease.token)  # type: ignore[arg-type]
            except _LOCK_FAILED:
                continue
