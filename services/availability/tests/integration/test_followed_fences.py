"""Fences followed across processes on the real Redis: an invalidation made by another availability process reaches
this one's memory through the channel, so the answers this process keeps go stale without a Redis read each."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from availability.adapters.cache import PageCache
from availability.app_keys import REDIS, SETTINGS
from availability.domain.invalidation import EVERY_PROVIDER, DayScope, Invalidation
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration
DAY = date(2026, 12, 7)


async def _true(value: bool) -> bool:
    return value


async def test_a_raise_by_another_process_reaches_this_ones_memory(app, cache):
    await wait_for(lambda: _true(cache.followed.trusted_epoch() is not None), what="fences followed")
    settings = app[SETTINGS]
    other_process = PageCache(app[REDIS], settings.redis_key(), settings.cache_ttl_seconds,
                              settings.fence_ttl_seconds)
    service, provider, other_provider = (str(uuid.uuid4()) for _ in range(3))
    assert cache.followed_fences(service, provider, [DAY]) == [0]

    await other_process.invalidate(Invalidation(days=frozenset({DayScope(service, provider, DAY)})), lsn=4242)

    await wait_for(lambda: _true(cache.followed_fences(service, provider, [DAY]) == [4242]), what="the raise heard")
    assert cache.followed_fences(service, EVERY_PROVIDER, [DAY]) == [4242]  # the page of every provider too
    assert cache.followed_fences(service, other_provider, [DAY]) == [0]  # nothing else
    assert await cache.fences(service, provider, [DAY]) == [4242]  # and Redis agrees


async def test_an_invalidation_of_this_process_is_known_here_before_any_message(app, cache):
    service, provider = str(uuid.uuid4()), str(uuid.uuid4())
    await cache.invalidate(Invalidation(providers=frozenset({(service, provider)})), lsn=77)
    assert cache.followed_fences(service, provider, [DAY, DAY]) == [77, 77]
