"""`GET /v1/availability`: open future slots of a service across its providers, one provider or one clinic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.integration


async def test_only_open_future_public_slots_of_live_providers_are_listed_in_start_order(api, rows, db, at, replayed):
    catalog = await rows.catalog(providers=3)
    first, second, gone = catalog.provider_ids
    start = at(5)
    listed = [
        await rows.slot(second, catalog.service_id, start + timedelta(hours=2), capacity=3, held=1, booked=1),
        await rows.slot(first, catalog.service_id, start + timedelta(hours=1)),
        await rows.slot(first, catalog.service_id, start + timedelta(hours=3),
                        reserved_until=datetime.now(UTC) - timedelta(minutes=1)),  # the waitlist's call is over
    ]
    hidden = [
        await rows.slot(first, catalog.service_id, start + timedelta(hours=4), booked=1),  # full
        await rows.slot(first, catalog.service_id, start + timedelta(hours=5), status="blocked"),
        await rows.slot(first, catalog.service_id, start + timedelta(hours=6), status="deleted"),
        await rows.slot(first, catalog.service_id, start + timedelta(hours=7),
                        reserved_until=datetime.now(UTC) + timedelta(minutes=10)),  # the waitlist has first call
        await rows.slot(gone, catalog.service_id, start + timedelta(hours=8)),
        await rows.slot(first, catalog.service_id, datetime.now(UTC) - timedelta(hours=1)),  # started already
    ]
    await db.execute("UPDATE booking.providers SET deleted_at = now() WHERE id = $1", gone)
    await replayed()

    reply = await api.get("/v1/availability", service_id=catalog.service_id, from_=datetime.now(UTC) - timedelta(
        days=1), to=start + timedelta(days=1))

    assert reply.status == 200, reply.body
    slots = reply.body["slots"]
    assert [item["slot_id"] for item in slots] == [str(listed[1]), str(listed[0]), str(listed[2])]
    assert not {str(slot) for slot in hidden} & {item["slot_id"] for item in slots}
    assert slots[1] == {
        "slot_id": str(listed[0]), "provider_id": str(second), "service_id": str(catalog.service_id),
        "starts_at": (start + timedelta(hours=2)).isoformat(), "ends_at": (start + timedelta(hours=2, minutes=30))
        .isoformat(), "capacity": 3, "remaining": 1,
    }


async def test_a_range_is_from_inclusive_to_exclusive_and_may_span_utc_days(api, rows, at, replayed):
    catalog = await rows.catalog()
    midnight = at(6).replace(hour=0)
    times = [midnight - timedelta(minutes=30), midnight, midnight + timedelta(hours=23, minutes=30),
             midnight + timedelta(days=1)]
    ids = [str(await rows.slot(catalog.provider_id, catalog.service_id, moment)) for moment in times]
    await replayed()

    assert await api.slot_ids(catalog.service_id, midnight, midnight + timedelta(days=1)) == ids[1:3]
    assert await api.slot_ids(catalog.service_id, times[0], times[3] + timedelta(minutes=1)) == ids
    assert await api.slot_ids(catalog.service_id, midnight, midnight) == []


async def test_one_provider_or_one_clinic_narrows_the_search(api, rows, at, replayed):
    catalog = await rows.catalog(providers=2)
    north = await rows.clinic()
    third, _ = await rows.provider(north, catalog.service_id, "UTC")
    start = at(7)
    a = await rows.slot(catalog.provider_ids[0], catalog.service_id, start)
    b = await rows.slot(catalog.provider_ids[1], catalog.service_id, start)
    c = await rows.slot(third, catalog.service_id, start + timedelta(hours=1))
    end = start + timedelta(days=1)
    await replayed()
    by_provider = sorted([(str(catalog.provider_ids[0]), a), (str(catalog.provider_ids[1]), b)])
    same_time = [str(slot) for _, slot in by_provider]

    assert await api.slot_ids(catalog.service_id, start, end) == [*same_time, str(c)]  # ties: by provider
    assert await api.slot_ids(catalog.service_id, start, end, provider_id=catalog.provider_ids[1]) == [str(b)]
    assert await api.slot_ids(catalog.service_id, start, end, clinic_id=north) == [str(c)]
    assert await api.slot_ids(catalog.service_id, start, end, clinic_id=catalog.clinic_id) == same_time
    assert await api.slot_ids(catalog.service_id, start, end, provider_id=third, clinic_id=catalog.clinic_id) == []


async def test_a_range_in_the_past_is_empty(api, rows):
    catalog = await rows.catalog()
    now = datetime.now(UTC)
    assert await api.slot_ids(catalog.service_id, now - timedelta(days=3), now - timedelta(days=1)) == []
