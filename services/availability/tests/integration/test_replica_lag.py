"""Replica lag never puts a page back that an event made stale: fills are judged by WAL position against the fence
the invalidation set. Deterministic: replay on the real replica is paused while the booking lands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
import orjson
import pytest

from availability.app_keys import REDIS
from availability.domain.invalidation import EVERY_PROVIDER, DayScope, Invalidation
from smartslot_common.testing import IsolatedStack, wait_for

pytestmark = pytest.mark.integration
REPLAY_POSITION = "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn"


@asynccontextmanager
async def replay_paused(replica_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The replica stops replaying WAL (superuser on the replica) until the block ends, whatever happens in it."""
    replica = await asyncpg.connect(replica_url)
    try:
        await replica.execute("SELECT pg_wal_replay_pause()")
        try:
            await wait_for(lambda: _state_is(replica, "paused"), 10, what="replay to pause")
            yield replica
        finally:
            await replica.execute("SELECT pg_wal_replay_resume()")
    finally:
        await replica.close()


async def _state_is(replica: asyncpg.Connection, state: str) -> bool:
    return await replica.fetchval("SELECT pg_get_wal_replay_pause_state()") == state


async def test_a_lagging_replica_neither_answers_nor_caches_what_an_event_made_stale(
    stack: IsolatedStack, app, api, cache, rows, events, metric, at, replayed
):
    if stack.replica_database_url is None:
        pytest.fail("no streaming replica answers on 127.0.0.1:5433: start one with `make replica`", pytrace=False)
    catalog = await rows.catalog()
    start = at(12)
    slot = str(await rows.slot(catalog.provider_id, catalog.service_id, start))
    await replayed()
    window = {"start": start - timedelta(hours=1), "end": start + timedelta(hours=1)}
    assert await api.slot_ids(catalog.service_id, **window) == [slot]  # and the day page is cached
    redis, service = app[REDIS], str(catalog.service_id)
    page_key = cache.page_key(service, EVERY_PROVIDER, start.date())
    assert await redis.exists(page_key)
    refusals = ("smartslot_availability_fill_refusals_total", {})
    primary_fills = ("smartslot_availability_fill_queries_total", {"pool": "primary"})

    async with replay_paused(stack.replica_database_url) as replica:
        await events.deliver("appointment.confirmed", await rows.take_seat(slot))
        fence = int(await redis.get(cache.day_fence_key(service, EVERY_PROVIDER, start.date())))
        assert await replica.fetchval(REPLAY_POSITION) < fence  # the replica still has the seat free
        before = [metric(name, **labels) for name, labels in (refusals, primary_fills)]

        for provider in (None, catalog.provider_id):
            assert await api.slot_ids(catalog.service_id, provider_id=provider, **window) == []

        assert not await redis.exists(page_key)
        assert [metric(name, **labels) for name, labels in (refusals, primary_fills)] == [b + 2 for b in before]

    await replayed()
    assert await api.slot_ids(catalog.service_id, **window) == []
    page = orjson.loads(await redis.get(page_key))  # filled again, from a replica past the fence
    assert page["lsn"] >= fence
    assert page["slots"] == []


async def _now_position(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"))


async def test_a_fill_read_before_an_invalidation_is_not_stored_after_it(cache, rows, db, at):
    catalog = await rows.catalog()
    service, provider, day = str(catalog.service_id), str(catalog.provider_id), at(13).date()
    fence = await _now_position(db) + 1_000
    await cache.invalidate(Invalidation(days=frozenset({DayScope(service, provider, day)})), lsn=fence)

    assert await cache.store(service, provider, {day: []}, lsn=fence - 1) == 0
    assert await cache.store(service, provider, {day: []}, lsn=fence) == 1
    assert (await cache.look_up(service, provider, [day])).pages == {day: []}


async def test_a_provider_wide_fence_makes_older_pages_of_every_day_stale(cache, rows, db, at):
    catalog = await rows.catalog()
    service, provider = str(catalog.service_id), str(catalog.provider_id)
    days, read_at = [at(14).date(), at(15).date()], await _now_position(db)
    for scope in (provider, EVERY_PROVIDER):
        assert await cache.store(service, scope, {day: [] for day in days}, lsn=read_at) == 2

    await cache.invalidate(Invalidation(providers=frozenset({(service, provider)})), lsn=read_at + 1)

    for scope in (provider, EVERY_PROVIDER):
        lookup = await cache.look_up(service, scope, days)
        assert lookup.pages == {}
        assert lookup.required == dict.fromkeys(days, read_at + 1)
        assert lookup.stale == 2
