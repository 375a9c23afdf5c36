"""A serving process settles its heap once started: start-up's objects frozen, the young generation collected less
often (the collector's full passes over start-up state were most of the p99 under load)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from aiohttp import web

from smartslot_common.heap import OLDER_THRESHOLD, YOUNG_THRESHOLD, settle_heap, settled


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_restored")
async def test_start_up_objects_are_frozen_and_young_ones_collected_less_often() -> None:
    long_lived = [{"start-up": index} for index in range(1000)]

    await settle_heap(web.Application())

    assert gc.get_freeze_count() >= len(long_lived)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
    collected_generations = {id(tracked) for generation in range(3) for tracked in gc.get_objects(generation)}
    assert not any(id(item) in collected_generations for item in long_lived)  # out of every generation's sight


@pytest.mark.usefixtures("collector_restored")
def test_a_settled_stretch_leaves_the_collector_as_it_found_it() -> None:
    before = gc.get_threshold()
    with settled():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
