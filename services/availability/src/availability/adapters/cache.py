"""Day pages in Redis, judged by WAL positions ("fences") so that replica lag never re-caches what an event changed.

Keys (under the deployment's prefix):
- `avail:page:<service>:<scope>:<day>`: `{"lsn": N, "slots": [...]}`, the open slots of one scope (a provider, or
  `all` providers) starting on one UTC day, read from a database that had replayed WAL up to N. TTL: short.
- `avail:fence:<service>:<scope>:<day>`, `avail:fence:<service>:<scope>`, `avail:fence`: the WAL position an
  invalidation requires of that day, of every day of that scope, of everything. TTL: long.
- `avail:service:<service>`: "1" the service exists, "0" it does not (short TTL).
- `avail:epoch`: a random value written when it is missing (no TTL). Every read of fences reads it too: when it is
  gone or has changed, Redis lost its data (restarted empty, or the keys were deleted) and the fences with it, so the
  pages and answers this process holds, which were judged by those fences alone, can no longer be trusted: they are
  forgotten (`generation` counts such losses).

A page is valid only while its `lsn` is at least every fence over it, and it is only stored if it is (both checked
inside Redis by a script, so no invalidation can slip between the check and the write). An invalidation raises the
fences to the primary's WAL position after the change and deletes the day pages it names.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
import redis.asyncio as aioredis

from availability.adapters.followed_fences import FollowedFences
from availability.adapters.local_pages import HeldPage, LocalPages
from availability.domain.invalidation import EVERY_PROVIDER, Invalidation
from availability.domain.search import Entry
from smartslot_common.logging import get_logger

log = get_logger(__name__)

# KEYS: the global fence, the scope's fence, then (day fence, page) pairs; ARGV: lsn, ttl ms, one value per pair.
STORE = """
local lsn = tonumber(ARGV[1])
for i = 1, 2 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > lsn then return 0 end
end
local stored, value = 0, 3
for i = 3, #KEYS, 2 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') <= lsn then
    redis.call('SET', KEYS[i + 1], ARGV[value], 'PX', ARGV[2])
    stored = stored + 1
  end
  value = value + 1
end
return stored
"""

# KEYS: ARGV[3] fences to raise, then pages and other keys to delete; ARGV: lsn, fence ttl ms, number of fences,
# the channel every process follows the raises on (`<lsn> <fence> ...` is published there, in the same step).
INVALIDATE = """
local lsn = tonumber(ARGV[1])
local fences = tonumber(ARGV[3])
for i = 1, fences do
  local current = redis.call('GET', KEYS[i])
  if current and tonumber(current) >= lsn then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  else
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
  end
end
for i = fences + 1, #KEYS do redis.call('DEL', KEYS[i]) end
if fences > 0 then
  local raised = {ARGV[1]}
  for i = 1, fences do raised[i + 1] = KEYS[i] end
  redis.call('PUBLISH', ARGV[4], table.concat(raised, ' '))
end
return fences
"""


@dataclass
class Lookup:
    """What the cache holds for a search: valid pages, the fence each other day must reach, the service's status."""

    pages: dict[date, list[Entry]] = field(default_factory=dict)
    required: dict[date, int] = field(default_factory=dict)
    stale: int = 0
    service_known: bool | None = None
    positions: dict[date, int] = field(default_factory=dict)  # the WAL position each of `pages` was read at


class PageCache:
    """Availability's day pages and their fences in Redis."""

    def __init__(
        self, client: aioredis.Redis, prefix: str, ttl_seconds: int, fence_ttl_seconds: int, local_entries: int = 0
    ) -> None:
        self._client = client
        self._prefix = prefix + "avail:"
        self._ttl_ms = ttl_seconds * 1000
        self._fence_ttl_ms = fence_ttl_seconds * 1000
        self._store = client.register_script(STORE)
        self._invalidate = client.register_script(INVALIDATE)
        self._local = LocalPages(local_entries, ttl_seconds)
        self._epoch: bytes | str | None = None  # the epoch this process's pages were judged under
        self.generation = 0  # how many times Redis was found to have lost its data; answers remember it
        self.followed = FollowedFences(client, self._prefix + "fences", fence_ttl_seconds)

    # --- keys ------------------------------------------------------------------------------------------------------

    def page_key(self, service_id: str, scope: str, day: date) -> str:
        return f"{self._prefix}page:{service_id}:{scope}:{day.isoformat()}"

    def day_fence_key(self, service_id: str, scope: str, day: date) -> str:
        return f"{self._prefix}fence:{service_id}:{scope}:{day.isoformat()}"

    def _scope_fence(self, service_id: str, scope: str) -> str:
        return f"{self._prefix}fence:{service_id}:{scope}"

    def _global_fence(self) -> str:
        return f"{self._prefix}fence"

    def _service_key(self, service_id: str) -> str:
        return f"{self._prefix}service:{service_id}"

    def _epoch_key(self) -> str:
        return f"{self._prefix}epoch"

    # --- losing Redis's data ---------------------------------------------------------------------------------------

    async def _same_epoch(self, seen: bytes | str | None) -> bool:
        """Whether Redis still holds the data this process's pages were judged by (`seen`: the epoch just read).
        If not, the pages held here are forgotten, `generation` moves on, and an epoch is written when missing."""
        if seen is not None and seen == self._epoch:
            return True
        if seen is None:
            await self._client.set(self._epoch_key(), secrets.token_hex(16).encode(), nx=True)
            seen = await self._client.get(self._epoch_key())
        lost = self._epoch is not None
        self._epoch = seen
        if lost:
            self._local.clear()
            self.generation += 1
            log.warning("cache_lost_its_data_forgetting_local_pages", generation=self.generation)
        return not lost

    # --- reading and filling ---------------------------------------------------------------------------------------

    async def look_up(self, service_id: str, scope: str, days: list[date]) -> Lookup:
        """One round trip: the valid pages of `days`, the fences of the others, and whether the service exists.

        Pages this process holds are judged by their fences alone; only the others are fetched from Redis."""
        keys = [self._global_fence(), self._scope_fence(service_id, scope), self._service_key(service_id),
                self._epoch_key()]
        page_keys = [self.page_key(service_id, scope, day) for day in days]
        held = [self._local.get(key) for key in page_keys]
        keys += [self.day_fence_key(service_id, scope, day) for day in days]
        keys += [key for key, page in zip(page_keys, held, strict=True) if page is None]
        values = await self._client.mget(keys)
        if not await self._same_epoch(values[3]) and any(page is not None for page in held):
            return await self.look_up(service_id, scope, days)  # the pages held here are gone: fetch them
        lookup = Lookup(service_known=None if values[2] is None else values[2] == b"1")
        floor = max(_position(values[0]), _position(values[1]))
        fetched = iter(values[4 + len(days):])
        for index, day in enumerate(days):
            fence = max(floor, _position(values[4 + index]))
            lsn, slots = self._page(page_keys[index], held[index], fetched)
            if slots is not None and lsn >= fence:
                lookup.pages[day] = slots
                lookup.positions[day] = lsn
            else:
                lookup.required[day] = fence
                lookup.stale += slots is not None
        return lookup

    def _page(self, key: str, held: HeldPage | None, fetched: Iterator[Any]) -> tuple[int, list[Entry] | None]:
        """A page's WAL position and slots: the one held here, else the one just fetched (then held here)."""
        if held is not None:
            return held.lsn, held.slots
        raw = next(fetched)
        if raw is None:
            return 0, None
        page = orjson.loads(raw)
        self._local.keep(key, page["lsn"], page["slots"])
        return page["lsn"], page["slots"]

    async def fences(self, service_id: str, scope: str, days: list[date]) -> list[int]:
        """One round trip: the fence each of these days of this scope must reach (anything read at or past it is
        current), under the current `generation`: call this before comparing with it."""
        epoch, *values = await self._client.mget([self._epoch_key(), *self._fence_keys(service_id, scope, days)])
        await self._same_epoch(epoch)
        floor = max(_position(values[0]), _position(values[1]))
        return [max(floor, _position(value)) for value in values[2:]]

    def followed_fences(self, service_id: str, scope: str, days: list[date]) -> list[int]:
        """The same fences as far as this process heard the raises (`followed` says since when)."""
        keys, highest = self._fence_keys(service_id, scope, days), self.followed.highest
        floor = highest(keys[:2])
        return [max(floor, highest((key,))) for key in keys[2:]]

    def _fence_keys(self, service_id: str, scope: str, days: list[date]) -> list[str]:
        keys = [self._global_fence(), self._scope_fence(service_id, scope)]
        keys += [self.day_fence_key(service_id, scope, day) for day in days]
        return keys

    async def store(self, service_id: str, scope: str, pages: Mapping[date, list[Entry]], lsn: int) -> int:
        """Store pages read at WAL position `lsn`, each only if no fence over it is higher; how many were stored."""
        if not pages:
            return 0
        keys = [self._global_fence(), self._scope_fence(service_id, scope)]
        values: list[Any] = [lsn, self._ttl_ms]
        for day, slots in pages.items():
            keys += [self.day_fence_key(service_id, scope, day), self.page_key(service_id, scope, day)]
            self._local.keep(self.page_key(service_id, scope, day), lsn, slots)
            values.append(orjson.dumps({"lsn": lsn, "slots": slots}))
        return int(await self._store(keys=keys, args=values))

    async def remember_service(self, service_id: str, exists: bool, ttl_seconds: int) -> None:
        """Cache whether a service exists."""
        await self._client.set(self._service_key(service_id), b"1" if exists else b"0", ex=ttl_seconds)

    # --- invalidating ----------------------------------------------------------------------------------------------

    async def invalidate(self, invalidation: Invalidation, lsn: int) -> None:
        """Raise the fences of what `invalidation` names to `lsn` and delete the day pages it names."""
        fences, deleted = self._invalidation_keys(invalidation)
        self.followed.raised(fences, lsn)  # this process knows at once; the others when the message comes
        if fences or deleted:
            await self._invalidate(keys=[*fences, *deleted],
                                   args=[lsn, self._fence_ttl_ms, len(fences), self.followed.channel])

    def _invalidation_keys(self, invalidation: Invalidation) -> tuple[list[str], list[str]]:
        fences: list[str] = [self._global_fence()] if invalidation.everything else []
        deleted: list[str] = [self._service_key(service) for service in sorted(invalidation.services)]
        for scope in sorted(invalidation.days, key=lambda s: (s.service_id, s.provider_id, s.day)):
            for who in (scope.provider_id, EVERY_PROVIDER):
                fences.append(self.day_fence_key(scope.service_id, who, scope.day))
                deleted.append(self.page_key(scope.service_id, who, scope.day))
        for service, provider in sorted(invalidation.providers):
            fences += [self._scope_fence(service, provider), self._scope_fence(service, EVERY_PROVIDER)]
        return _unique(fences), _unique(deleted)


def _position(raw: bytes | str | None) -> int:  # redis-py types replies as either; this client reads bytes
    return int(raw) if raw is not None else 0


def _unique(keys: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(keys))
