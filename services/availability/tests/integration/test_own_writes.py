"""Read-your-writes: a search the gateway sends with the caller's own slots (`X-SmartSlot-Own-Slots`) never lists a
slot the caller has just taken, even while the cache still does because the booking's event has not arrived; other
searches are answered from the cache as before."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from smartslot_common.http.identity import OWN_SLOTS_HEADER, ROLE_HEADER, USER_ID_HEADER

pytestmark = pytest.mark.integration
REREADS = "smartslot_availability_own_write_rereads_total"


async def listed(api: Any, service_id: uuid.UUID, start: datetime, end: datetime,
                 headers: dict[str, str]) -> dict[str, int]:
    """What a search lists (slot id: remaining), insisting on 200; identity headers are signed as the gateway's."""
    params = {"service_id": str(service_id), "from": start.isoformat(), "to": end.isoformat()}
    async with api.http.get("/v1/availability", params=params, headers=headers) as response:
        assert response.status == 200, await response.text()
        return {item["slot_id"]: item["remaining"] for item in (await response.json())["slots"]}


async def test_a_search_carrying_the_callers_own_slots_does_not_list_one_its_cached_pages_still_do(
    api, rows, at, replayed, metric
):
    catalog = await rows.catalog()
    start = at(16)
    booked = str(await rows.slot(catalog.provider_id, catalog.service_id, start))
    shared = str(await rows.slot(catalog.provider_id, catalog.service_id, start + timedelta(hours=1), capacity=2))
    await replayed()
    caller = {USER_ID_HEADER: str(uuid.uuid4()), ROLE_HEADER: "client"}
    kept_query = (catalog.service_id, start - timedelta(hours=1), start + timedelta(hours=3))
    pages_query = (catalog.service_id, start - timedelta(hours=2), start + timedelta(hours=4))
    before = {booked: 1, shared: 2}
    assert await listed(api, *kept_query, caller) == before  # the day page cached, the answer kept

    await rows.take_seat(booked)  # booked in the primary; no event is delivered, so the cache keeps the page
    await rows.take_seat(shared)  # one of its two seats
    await replayed()
    rereads = metric(REREADS)

    own = caller | {OWN_SLOTS_HEADER: f"{booked},{shared}"}
    for query in (kept_query, pages_query):  # a kept answer, and an answer from the cached page
        assert await listed(api, *query, own) == {shared: 1}  # the primary's answer
    assert metric(REREADS) == rereads + 2

    for query in (kept_query, pages_query):  # without the header (or believed only with a verified identity):
        assert await listed(api, *query, caller) == before  # the cache's answer, until the event comes
        assert await listed(api, *query, {OWN_SLOTS_HEADER: booked}) == before
    elsewhere = caller | {OWN_SLOTS_HEADER: str(uuid.uuid4())}
    assert await listed(api, *kept_query, elsewhere) == before  # own slots the answer does not list: no re-read
    assert metric(REREADS) == rereads + 2
