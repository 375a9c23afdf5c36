"""The cache: day pages per (service, provider-or-all, UTC day), invalidated by events only where they say, filled
once per burst, and a read-heavy mix served almost entirely from Redis."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from availability.adapters import slots as slot_reads
from availability.app_keys import REDIS
from availability.domain.invalidation import EVERY_PROVIDER
from smartslot_common.testing import wait_for

from .conftest import applied_events

pytestmark = pytest.mark.integration
HITS = ("smartslot_availability_cache_requests_total", {"outcome": "hit"})
MISSES = ("smartslot_availability_cache_requests_total", {"outcome": "miss"})


def slot_event(slot_id, provider_id, service_id, starts_at) -> dict:
    return {"slot_id": str(slot_id), "provider_id": str(provider_id), "service_id": str(service_id),
            "starts_at": starts_at.isoformat(), "ends_at": (starts_at + timedelta(minutes=30)).isoformat()}


class Counts:
    """Deltas of this process's counters since the object was made."""

    def __init__(self, metric, *samples: tuple[str, dict]) -> None:
        self.metric, self.samples = metric, samples
        self.before = [metric(name, **labels) for name, labels in samples]

    def delta(self) -> list[float]:
        now = [self.metric(name, **labels) for name, labels in self.samples]
        return [after - before for after, before in zip(now, self.before, strict=True)]


async def test_a_repeated_search_is_a_hit_until_an_event_touches_its_day(api, rows, events, replayed, metric, at):
    catalog = await rows.catalog()
    start = at(3)
    first = await rows.slot(catalog.provider_id, catalog.service_id, start)
    await replayed()
    counts = Counts(metric, HITS, MISSES)
    assert await api.slot_ids(catalog.service_id, start, start + timedelta(hours=12)) == [str(first)]
    assert await api.slot_ids(catalog.service_id, start, start + timedelta(hours=12)) == [str(first)]
    assert counts.delta() == [1, 1]

    second = await rows.slot(catalog.provider_id, catalog.service_id, start + timedelta(hours=1))
    await replayed()  # the replica has the new slot, but without its event the cached page stands
    assert await api.slot_ids(catalog.service_id, start, start + timedelta(hours=12)) == [str(first)]

    await events.deliver("slot.created", slot_event(second, catalog.provider_id, catalog.service_id,
                                                    start + timedelta(hours=1)))
    assert await api.slot_ids(catalog.service_id, start, start + timedelta(hours=12)) == [str(first), str(second)]
    assert counts.delta() == [2, 2]


async def test_an_event_drops_only_its_providers_day_and_the_every_provider_day(app, api, cache, rows, events, at):
    catalog = await rows.catalog(providers=2)
    one, two = catalog.provider_ids
    day = at(4).replace(hour=10)
    for provider in (one, two):
        for offset in (0, 1):
            await rows.slot(provider, catalog.service_id, day + timedelta(days=offset))
    for provider in (None, one, two):
        await api.slot_ids(catalog.service_id, day, day + timedelta(days=2), provider_id=provider)
    service, today, tomorrow = str(catalog.service_id), day.date(), day.date() + timedelta(days=1)

    def page(scope, when: date) -> str:
        return cache.page_key(service, str(scope), when)

    every_page = [page(scope, when) for scope in (EVERY_PROVIDER, one, two) for when in (today, tomorrow)]
    assert await app[REDIS].exists(*every_page) == 6

    await events.deliver("appointment.confirmed", {
        "appointment_id": str(catalog.clinic_id), "status": "confirmed", "slot_id": str(catalog.clinic_id),
        "provider_id": str(one), "service_id": service, "client_id": str(catalog.clinic_id),
        "starts_at": day.isoformat(), "ends_at": (day + timedelta(minutes=30)).isoformat()})

    kept = {key for key in every_page if await app[REDIS].exists(key)}
    assert kept == set(every_page) - {page(EVERY_PROVIDER, today), page(one, today)}


async def test_a_schedule_change_makes_every_day_of_that_provider_and_service_stale(
    api, rows, events, metric, at, replayed
):
    catalog = await rows.catalog(providers=2)
    one, two = catalog.provider_ids
    start = at(5).replace(hour=0)  # three whole UTC days
    for provider in (one, two):
        await rows.slot(provider, catalog.service_id, start)
    ranges = {"from_": start, "to": start + timedelta(days=3)}
    for provider in (one, two):
        await api.get("/v1/availability", service_id=catalog.service_id, provider_id=provider, **ranges)

    generated = await rows.slot(one, catalog.service_id, start + timedelta(days=2))  # working hours: no slot event
    await replayed()
    await events.deliver("schedule.changed", {"provider_id": str(one), "service_ids": [str(catalog.service_id)],
                                              "reason": "working_hours", "slots_created": 1})
    counts = Counts(metric, HITS, ("smartslot_availability_cache_pages_total", {"outcome": "stale"}))
    assert str(generated) in await api.slot_ids(catalog.service_id, provider_id=one, start=start, end=start + timedelta(
        days=3))
    await api.get("/v1/availability", service_id=catalog.service_id, provider_id=two, **ranges)
    assert counts.delta() == [1, 3]  # provider two: a hit; provider one: its three day pages were stale


async def test_a_burst_of_misses_for_one_key_makes_one_replica_query(api, rows, metric, at, monkeypatch, replayed):
    catalog = await rows.catalog()
    start = at(6)
    slot = await rows.slot(catalog.provider_id, catalog.service_id, start)
    await replayed()
    await api.slot_ids(catalog.service_id, at(20), at(21))  # the service is known; its pages of other days are not
    burst = 50
    # Identical searches share one answer (and so one look-up and one fill); the page's own single flight is for
    # different searches that need the same day.
    joins = ("smartslot_availability_single_flight_joins_total", {"kind": "answer"})
    counts = Counts(metric, ("smartslot_availability_fill_queries_total", {"pool": "replica"}), joins)
    everyone_waits = asyncio.Event()
    real_query = slot_reads.open_slots

    async def held_query(*args, **kwargs):
        await everyone_waits.wait()  # the query runs only once every request of the burst has asked for the page
        return await real_query(*args, **kwargs)

    monkeypatch.setattr(slot_reads, "open_slots", held_query)
    requests = [asyncio.create_task(api.slot_ids(catalog.service_id, start, start + timedelta(hours=1)))
                for _ in range(burst)]

    async def all_joined() -> bool:
        return counts.delta()[1] >= burst - 1

    await wait_for(all_joined, 10, what="every request of the burst to wait for the one fill")
    everyone_waits.set()
    answers = await asyncio.gather(*requests)
    assert answers == [[str(slot)]] * burst
    assert counts.delta() == [1, burst - 1]


async def test_a_read_heavy_mix_reaches_a_hit_ratio_of_at_least_95_percent(api, rows, events, metric, at):
    catalog = await rows.catalog(providers=3)
    start = at(8).replace(hour=8)
    for provider in catalog.provider_ids:
        for hour in range(0, 48, 4):
            await rows.slot(provider, catalog.service_id, start + timedelta(hours=hour))
    week = {"from_": start, "to": start + timedelta(days=7)}
    keys = [week, week | {"provider_id": catalog.provider_ids[0]}, week | {"provider_id": catalog.provider_ids[1]},
            week | {"clinic_id": catalog.clinic_id}, {"from_": start, "to": start + timedelta(days=1)}]
    counts = Counts(metric, HITS, MISSES, ("smartslot_availability_single_flight_joins_total", {"kind": "answer"}))
    reads, batch = 2000, 10  # ten requests in flight at a time
    for number in range(0, reads, batch):
        if number and number % 400 == 0:  # a booking lands now and then
            provider = catalog.provider_ids[number // 400 % 3]
            await events.deliver("slot.blocked", slot_event(catalog.clinic_id, provider, catalog.service_id, start))
        replies = await asyncio.gather(*(api.get("/v1/availability", service_id=catalog.service_id,
                                                 **keys[(number + n) % len(keys)]) for n in range(batch)))
        assert {reply.status for reply in replies} == {200}
    hits, misses, shared = counts.delta()
    assert hits + misses + shared == reads  # a search that joined an identical one in flight looks nothing up
    assert (hits + shared) / reads >= 0.95, (hits, misses, shared)


async def test_a_redelivered_event_is_applied_again_harmlessly(app, api, cache, rows, events, db, replayed, at):
    catalog = await rows.catalog()
    start = at(9)
    slot = await rows.slot(catalog.provider_id, catalog.service_id, start)
    payload = slot_event(slot, catalog.provider_id, catalog.service_id, start)
    page = cache.page_key(str(catalog.service_id), str(catalog.provider_id), start.date())
    event = await events.deliver("slot.created", payload)
    await replayed()
    assert await api.slot_ids(catalog.service_id, start, start + timedelta(hours=1),
                              provider_id=catalog.provider_id) == [str(slot)]
    assert await app[REDIS].exists(page) == 1

    before = applied_events("slot.created")
    await events.publisher.publish(event)  # the same event again, as a redelivery would bring it
    await wait_for(lambda: _true(applied_events("slot.created") > before), 10, what="the copy applied")

    assert await app[REDIS].exists(page) == 0  # dropped again: invalidating twice is harmless, so no inbox is kept
    await replayed()
    assert await api.slot_ids(catalog.service_id, start, start + timedelta(hours=1),
                              provider_id=catalog.provider_id) == [str(slot)]
    assert await db.fetchval("SELECT to_regclass('availability.inbox')") is None  # nor a table for one


async def _true(value: bool) -> bool:
    return value


async def test_pages_live_briefly(app, api, cache, rows, at):
    catalog = await rows.catalog()
    start = at(10)
    await api.slot_ids(catalog.service_id, start, start + timedelta(hours=1))
    ttl = await app[REDIS].pttl(cache.page_key(str(catalog.service_id), EVERY_PROVIDER, start.date()))
    assert 0 < ttl <= 30_000


async def test_with_redis_unreachable_a_search_still_answers_from_the_database(
    api, cache, rows, metric, at, monkeypatch, replayed
):
    catalog = await rows.catalog()
    start = at(11)
    slot = await rows.slot(catalog.provider_id, catalog.service_id, start)
    await replayed()
    await api.slot_ids(catalog.service_id, start, start + timedelta(hours=1))  # the service is known

    async def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis is down")

    for command in ("fences", "look_up", "store"):
        monkeypatch.setattr(cache, command, unreachable)
    monkeypatch.setattr(cache.followed, "trusted_epoch", lambda: None)  # its subscription would break as well
    counts = Counts(metric, ("smartslot_availability_cache_requests_total", {"outcome": "error"}))
    assert await api.slot_ids(catalog.service_id, start, start + timedelta(hours=1)) == [str(slot)]
    assert counts.delta() == [1]
