"""Redis losing its data (restarted empty, keys deleted) takes the fences with it: the pages and answers a process
holds in memory, judged by those fences alone, must not come back as current. The cache notices its epoch key is
gone, forgets what it holds and fetches again."""

from __future__ import annotations

import secrets
from datetime import date

import pytest
import redis.asyncio as aioredis

from availability.adapters.cache import PageCache
from availability.domain.invalidation import EVERY_PROVIDER, DayScope, Invalidation
from availability.service_layer.answers import Answer, Answers, kept_answer
from smartslot_common.testing import IsolatedStack

pytestmark = pytest.mark.integration
DAY = date(2030, 6, 3)
FREE = [{"a": '{"slot_id": "taken-later"}', "t": 1.0, "r": None, "c": "clinic"}]


async def _wipe(redis: aioredis.Redis, prefix: str) -> None:
    """What a restart that lost its data does to this cache's keys (only ours: the server is shared)."""
    async for key in redis.scan_iter(match=f"{prefix}*", count=500):
        await redis.delete(key)


async def test_pages_and_answers_held_in_memory_are_forgotten_when_redis_loses_its_fences(
    stack: IsolatedStack,
) -> None:
    prefix = f"{stack.namespace}lost-{secrets.token_hex(4)}:"
    async with aioredis.Redis.from_url(stack.redis_url) as redis:
        cache = PageCache(redis, prefix, ttl_seconds=30, fence_ttl_seconds=3600, local_entries=1000)
        answers = Answers(1 << 20)
        try:
            # A page read at WAL position 10, held here and in Redis; an answer built from it.
            assert (await cache.look_up("service", EVERY_PROVIDER, [DAY])).required == {DAY: 0}
            assert await cache.store("service", EVERY_PROVIDER, {DAY: FREE}, 10) == 1
            assert (await cache.look_up("service", EVERY_PROVIDER, [DAY])).pages == {DAY: FREE}
            answers.keep("q", Answer(b"body", "service", EVERY_PROVIDER, [DAY], [10], 2e9, cache.generation))
            assert await kept_answer(answers, cache, "q", 0.0) == b"body"

            # The slot is taken: the invalidation raises the day's fence past the page. Neither is current now.
            await cache.invalidate(Invalidation(days=frozenset({DayScope("service", EVERY_PROVIDER, DAY)})), 20)
            lookup = await cache.look_up("service", EVERY_PROVIDER, [DAY])
            assert (lookup.pages, lookup.required) == ({}, {DAY: 20})
            answers.keep("q", Answer(b"body", "service", EVERY_PROVIDER, [DAY], [10], 2e9, cache.generation))
            # (kept again on purpose: a process that has not looked at it since still holds it)

            # Redis loses everything, the fence included. What this process holds from before must not return.
            await _wipe(redis, prefix)
            generation = cache.generation
            lookup = await cache.look_up("service", EVERY_PROVIDER, [DAY])
            assert (lookup.pages, lookup.required) == ({}, {DAY: 0})  # read again, not the page from before
            assert cache.generation == generation + 1
            assert await kept_answer(answers, cache, "q", 0.0) is None

            # Afterwards the cache works as before: a page stored is served, from memory too.
            assert await cache.store("service", EVERY_PROVIDER, {DAY: []}, 30) == 1
            assert (await cache.look_up("service", EVERY_PROVIDER, [DAY])).pages == {DAY: []}
            assert (await cache.look_up("service", EVERY_PROVIDER, [DAY])).pages == {DAY: []}
            assert cache.generation == generation + 1
        finally:
            await _wipe(redis, prefix)
