"""Useful conflicts: up to five open slots of the same service nearest in time to what the caller asked for.

A storm of losers for one slot all ask the same question. Within one process the answer is kept in memory for the
cache's few seconds, and while it is being found one lookup runs per question and the other losers wait for it; that
lookup reads Redis, where the answer is kept as long for the other processes, before it asks PostgreSQL: about one
query per slot per few seconds however many lose, one Redis command per process per question, so the cache never
crowds the slot lock out of Redis connections. Suggestions are a hint, never a
promise, so a few seconds' staleness is fine, and a failure to find them leaves the conflict answer without any
rather than failing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import orjson
import redis.asyncio as aioredis

from booking import metrics
from booking.adapters.open_slots import UNAVAILABLE, OpenSlot, OpenSlots
from booking.domain.errors import NoProviderAvailable, SlotHeld, SlotUnavailable
from smartslot_common.logging import get_logger
from smartslot_common.redis import REDIS_UNAVAILABLE

T = TypeVar("T")
SuggestedSlot = dict[str, str | int]  # a suggestion as the API shows it (and as it is cached): ids and times as text
LIMIT = 5
CONFLICTS = (SlotHeld, SlotUnavailable, NoProviderAvailable)
log = get_logger(__name__)

# Concurrent lookups of one key in this process share one query (keyed by the namespaced cache key) ...
_running: dict[str, asyncio.Task[list[SuggestedSlot]]] = {}
# ... and its answer is kept here as long as in Redis: key -> (monotonic deadline, slots).
_recent: dict[str, tuple[float, list[SuggestedSlot]]] = {}
MAX_RECENT = 10_000


@dataclass(frozen=True)
class Target:
    """What the caller asked for: one slot, or a service at a start time (of one provider, or any)."""

    slot_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    starts_at: datetime | None = None
    provider_id: uuid.UUID | None = None

    def key(self) -> str:
        """The cache key part naming this question."""
        if self.slot_id is not None:
            return f"slot:{self.slot_id}"
        assert self.starts_at is not None
        return f"at:{self.service_id}:{self.starts_at.astimezone(UTC).isoformat()}:{self.provider_id or 'any'}"


class Suggestions:
    """Finds the open slots to offer with a conflict, through a short-lived Redis cache."""

    def __init__(
        self, slots: OpenSlots, cache: aioredis.Redis | None, key_prefix: str, cache_seconds: float
    ) -> None:
        self._slots = slots
        self._cache = cache if cache_seconds > 0 else None
        self._prefix = key_prefix
        self._cache_ms = int(cache_seconds * 1000)

    async def near(self, target: Target) -> list[SuggestedSlot]:
        """Up to five open slots of the service nearest in time to `target`, as `{slot_id, ..., remaining}`."""
        key = f"{self._prefix}{target.key()}"
        recent = _recent.get(key)
        if recent is not None and recent[0] > time.monotonic():
            metrics.SUGGESTION_LOOKUPS.labels(source="memory").inc()
            return recent[1]
        running = _running.get(key)
        if running is None:
            running = _running[key] = asyncio.ensure_future(self._find(key, target))
            running.add_done_callback(lambda _: _running.pop(key, None))
        else:
            metrics.SUGGESTION_LOOKUPS.labels(source="shared").inc()
        return await asyncio.shield(running)  # one waiter cancelled must not cancel the others' lookup

    async def _find(self, key: str, target: Target) -> list[SuggestedSlot]:
        cached = await self._cached(key)
        if cached is not None:
            metrics.SUGGESTION_LOOKUPS.labels(source="cache").inc()
        found = cached if cached is not None else await self._load(key, target)
        self._keep(key, found)
        return found

    def _keep(self, key: str, found: list[SuggestedSlot]) -> None:
        if self._cache_ms <= 0:
            return
        now = time.monotonic()
        if len(_recent) >= MAX_RECENT:
            for stale in [known for known, (until, _) in _recent.items() if until <= now]:
                del _recent[stale]
            if len(_recent) >= MAX_RECENT:
                _recent.clear()
        _recent[key] = (now + self._cache_ms / 1000, found)

    async def _cached(self, key: str) -> list[SuggestedSlot] | None:
        if self._cache is None:
            return None
        try:
            raw = await self._cache.get(key)
        except REDIS_UNAVAILABLE:
            return None
        return orjson.loads(raw) if raw is not None else None

    async def _load(self, key: str, target: Target) -> list[SuggestedSlot]:
        """Query PostgreSQL and fill the cache; never raises, so no waiter is left with an unseen error."""
        metrics.SUGGESTION_LOOKUPS.labels(source="database").inc()
        try:
            slots = await self._slots.nearest(
                target.slot_id, target.service_id, target.provider_id, target.starts_at, LIMIT)
        except UNAVAILABLE as error:
            log.warning("suggestions_unavailable", error=str(error))
            return []
        found = [_render(slot) for slot in slots]
        if self._cache is not None:
            # Redis down: the next storm of losers shares one query per process instead.
            with contextlib.suppress(*REDIS_UNAVAILABLE):
                await self._cache.set(key, orjson.dumps(found), px=self._cache_ms)
        return found


def _render(slot: OpenSlot) -> SuggestedSlot:
    return {
        "slot_id": str(slot.slot_id), "provider_id": str(slot.provider_id), "service_id": str(slot.service_id),
        "starts_at": slot.starts_at.isoformat(), "ends_at": slot.ends_at.isoformat(), "remaining": slot.remaining,
    }


async def offering_alternatives(suggestions: Suggestions, target: Target, work: Awaitable[T]) -> T:
    """Await `work`; a conflict it raises carries the open slots nearest to `target` as `suggestions`."""
    try:
        return await work
    except CONFLICTS as conflict:
        conflict.extra.setdefault("suggestions", await suggestions.near(target))
        raise
