"""The live slot stream's storage: slot states read by id (one query per batch of changes), and the shared log of
changes in a Redis stream (appended by whichever process consumed the events, followed by every process)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from availability.adapters.positions import position

# Whether each slot is in the public pool now, with what search answers about it (remaining 0 when it left the pool:
# full, blocked or deleted, started, reserved for the waitlist, or its provider gone).
SLOT_STATES = """
SELECT s.id AS slot_id, s.provider_id, s.service_id, p.clinic_id, s.starts_at, s.ends_at, s.capacity, s.version,
       CASE WHEN s.status = 'open' AND p.deleted_at IS NULL AND s.starts_at > now()
                 AND (s.reserved_until IS NULL OR s.reserved_until <= now())
            THEN s.capacity - s.held - s.booked ELSE 0 END AS remaining
FROM booking.slots s
JOIN booking.providers p ON p.id = s.provider_id
WHERE s.id = ANY($1::uuid[])
"""


async def slot_states(read_pool: asyncpg.Pool, primary_pool: asyncpg.Pool, slot_ids: Sequence[uuid.UUID],
                      fence: int) -> list[asyncpg.Record]:
    """The slots' states as of at least WAL position `fence`: from the replica when it has replayed that far, else
    from the primary."""
    if read_pool is not primary_pool:
        async with read_pool.acquire() as connection:
            if await position(connection) >= fence:
                return list(await connection.fetch(SLOT_STATES, list(slot_ids)))
    return list(await primary_pool.fetch(SLOT_STATES, list(slot_ids)))


class SharedLog:
    """The Redis stream every availability process appends changes to and follows."""

    def __init__(self, redis: aioredis.Redis, key: str, size: int) -> None:
        self._redis = redis
        self.key = key
        self._size = size

    async def append(self, items: Sequence[dict[str, bytes | str]]) -> None:
        """Append entries ({"e": event, "d": json}) in one round trip, trimming the log to about its size."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in items:
                fields: Any = item
                pipe.xadd(self.key, fields, maxlen=self._size, approximate=True)
            await pipe.execute()

    async def latest(self, count: int) -> list[Item]:
        """The last `count` entries, oldest first."""
        found: Any = await self._redis.xrevrange(self.key, count=count)
        return [_item(entry) for entry in reversed(found or [])]

    async def read_after(self, entry_id: str, block_ms: int) -> list[Item]:
        """Entries after `entry_id`, waiting up to `block_ms` for the first."""
        answer: Any = await self._redis.xread({self.key: entry_id}, block=block_ms, count=1000)
        return [_item(entry) for _, entries in answer or [] for entry in entries]


Item = tuple[str, dict[bytes, bytes]]


def _item(entry: Any) -> Item:
    entry_id, fields = entry
    return (entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)), dict(fields)
