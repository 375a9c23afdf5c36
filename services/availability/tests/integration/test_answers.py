"""A repeated search is answered from this process's kept answer until an event touches one of its days or one of
its slots starts; the answer then comes from the day pages again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from availability.app_keys import SEARCH

from .test_cache import Counts, slot_event

pytestmark = pytest.mark.integration
ANSWER_HITS = ("smartslot_availability_answers_total", {"outcome": "hit"})
ANSWER_STALE = ("smartslot_availability_answers_total", {"outcome": "stale"})
PAGE_LOOKUPS = ("smartslot_availability_cache_pages_total", {"outcome": "hit"})
FILLS = ("smartslot_availability_fill_queries_total", {"pool": "replica"})


async def test_a_kept_answer_is_served_until_an_event_touches_its_day(api, rows, events, replayed, metric, at):
    catalog = await rows.catalog()
    start = at(6)
    first = await rows.slot(catalog.provider_id, catalog.service_id, start)
    await replayed()
    search = {"service_id": catalog.service_id, "start": start, "end": start + timedelta(hours=12)}
    assert await api.slot_ids(**search) == [str(first)]

    counts = Counts(metric, ANSWER_HITS, ANSWER_STALE, PAGE_LOOKUPS)
    assert await api.slot_ids(**search) == [str(first)]
    assert counts.delta() == [1, 0, 0], "served whole, without reading a day page"

    second = await rows.slot(catalog.provider_id, catalog.service_id, start + timedelta(hours=1))
    await replayed()
    await events.deliver("slot.created", slot_event(second, catalog.provider_id, catalog.service_id,
                                                    start + timedelta(hours=1)))
    assert await api.slot_ids(**search) == [str(first), str(second)]
    assert counts.delta()[:2] == [1, 1], "the event made the kept answer stale"


async def test_a_kept_answer_lasts_until_its_first_slot_starts_or_its_pages_lifetime(api, rows, replayed):
    catalog = await rows.catalog()
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=15)  # within a page's 30 s
    first = await rows.slot(catalog.provider_id, catalog.service_id, soon)
    later = await rows.slot(catalog.provider_id, catalog.service_id, soon + timedelta(hours=2))
    await replayed()
    search = {"service_id": catalog.service_id, "start": soon - timedelta(hours=1), "end": soon + timedelta(days=1)}
    assert await api.slot_ids(**search) == [str(first), str(later)]
    kept = api.app[SEARCH].answers
    [answer] = [kept.get(query, 0) for query in kept.queries() if str(catalog.service_id) in query]
    assert answer is not None
    assert answer.until == soon.timestamp(), "it is the answer only until its first slot starts"

    only_later = {"service_id": catalog.service_id, "start": soon + timedelta(hours=1), "end": soon + timedelta(days=1)}
    assert await api.slot_ids(**only_later) == [str(later)]
    [answer] = [kept.get(query, 0) for query in kept.queries()[-1:]]
    assert answer is not None
    assert answer.until <= time.time() + 30, "and no longer than its day pages live"


class RecordingRedis:
    """The cache's Redis client, recording the keys each MGET asks for."""

    def __init__(self, real) -> None:
        self.real, self.asked = real, []

    async def mget(self, keys):
        self.asked.append(list(keys))
        return await self.real.mget(keys)

    def __getattr__(self, name):
        return getattr(self.real, name)


async def test_after_one_day_is_invalidated_only_that_day_is_read_again_and_from_the_database(
    api, cache, rows, events, replayed, at, monkeypatch, metric
):
    catalog = await rows.catalog()
    start = at(12).replace(hour=9)
    slots = [await rows.slot(catalog.provider_id, catalog.service_id, start + timedelta(days=n)) for n in range(3)]
    await replayed()
    search = {"service_id": catalog.service_id, "start": start, "end": start + timedelta(days=3)}
    assert await api.slot_ids(**search) == [str(slot) for slot in slots]
    added = await rows.slot(catalog.provider_id, catalog.service_id, start + timedelta(days=1, hours=1))
    await replayed()
    await events.deliver("slot.created", slot_event(added, catalog.provider_id, catalog.service_id,
                                                    start + timedelta(days=1, hours=1)))
    slots.insert(2, added)
    recording = RecordingRedis(cache._client)
    monkeypatch.setattr(cache, "_client", recording)
    counts = Counts(metric, FILLS, ("smartslot_availability_cache_pages_total", {"outcome": "stale"}))

    assert await api.slot_ids(**search) == [str(slot) for slot in slots]

    assert [key for asked in recording.asked for key in asked if ":page:" in key] == [], (
        "the two valid days come from this process's memory, judged by their fences only")
    assert counts.delta() == [1, 1], "the invalidated day alone is filled again"
