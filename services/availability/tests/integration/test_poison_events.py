"""An event whose payload is not its contract: every cached page is dropped (what it changed is unknown), the event
goes to availability's dead-letter queue at its first delivery, and the events after it are applied as usual."""

from __future__ import annotations

from datetime import timedelta

import pytest

from smartslot_common.testing import wait_for

from .conftest import applied_events, counter

pytestmark = pytest.mark.integration


def _dead_lettered(event_type: str) -> float:
    return counter("smartslot_events_consumed_total", consumer="availability", event_type=event_type,
                   outcome="dead_lettered")


async def _true(value: bool) -> bool:
    return value


def _stale_pages() -> float:
    return counter("smartslot_availability_cache_pages_total", outcome="stale")


async def test_a_poison_event_drops_every_page_and_is_dead_lettered_once(api, rows, events, at, replayed):
    catalog = await rows.catalog()
    start = at(3)
    slot = await rows.slot(catalog.provider_id, catalog.service_id, start)
    await replayed()
    assert await api.slot_ids(catalog.service_id, start, start + timedelta(hours=12)) == [str(slot)]
    dead_before, applied_before = _dead_lettered("slot.released"), applied_events("slot.released")
    stale_before = _stale_pages()
    # A write elsewhere moves the primary's WAL past the page's position: the drop's fence is then above the page
    # (a fence at the very position a page was read at leaves it valid, as it still tells the truth).
    await rows.slot(catalog.provider_id, catalog.service_id, at(6))

    await events.publish("slot.released", {"slot": ["not", "a", "slot"]})
    await wait_for(lambda: _true(_dead_lettered("slot.released") > dead_before), 10,
                   what="availability to dead-letter the poison")

    async def dropped() -> bool:
        # The page this search had filled was dropped with every other: the next search finds it stale (as soon as
        # the drop's fences reach this process, a Redis message after the dead-lettering) and still lists the slot.
        assert await api.slot_ids(catalog.service_id, start, start + timedelta(hours=12)) == [str(slot)]
        return _stale_pages() > stale_before

    await wait_for(dropped, 10, what="a search to find its page dropped")
    assert _dead_lettered("slot.released") == dead_before + 1
    assert applied_events("slot.released") == applied_before
    released = {"slot_id": str(slot), "provider_id": str(catalog.provider_id), "service_id": str(catalog.service_id),
                "starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=30)).isoformat()}
    await events.deliver("slot.released", released)  # the next one flows
    assert _dead_lettered("slot.released") == dead_before + 1
