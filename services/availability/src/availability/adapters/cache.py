"""Cache-aside in Redis with per-service generations: invalidation is one INCR, old pages age out by TTL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from availability import metrics


class SlotCache:
    """Pages of availability answers, keyed by query and the service's current generation."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_seconds: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _generation_key(self, service_id: uuid.UUID | str) -> str:
        return f"{self._prefix}avail:{service_id}:generation"

    async def get_or_fill(
        self, service_id: uuid.UUID, query_key: str, fill: Callable[[], Awaitable[list[dict[str, Any]]]]
    ) -> list[dict[str, Any]]:
        """The cached page, or the filled one stored for next time; Redis trouble falls through to `fill`."""
        try:
            generation = await self._client.get(self._generation_key(service_id)) or b"0"
            page_key = f"{self._prefix}avail:{service_id}:g{generation.decode()}:{query_key}"
            cached = await self._client.get(page_key)
        except RedisError:
            metrics.CACHE_REQUESTS.labels(outcome="error").inc()
            return await fill()
        if cached is not None:
            metrics.CACHE_REQUESTS.labels(outcome="hit").inc()
            return orjson.loads(cached)
        metrics.CACHE_REQUESTS.labels(outcome="miss").inc()
        page = await fill()
        await self._client.set(page_key, orjson.dumps(page), ex=self._ttl)
        return page

    async def invalidate(self, service_id: uuid.UUID | str) -> None:
        """Drop every cached page of a service."""
        await self._client.incr(self._generation_key(service_id))
        metrics.CACHE_INVALIDATIONS.inc()
