"""No-shows in availability: the admin analytics count them (a booking that was kept, not cancelled, its minutes
used), and `appointment.no_show` drops the cached pages of its day like every other appointment event."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from availability.app_keys import REDIS

pytestmark = pytest.mark.integration
BOOKED = ((None, "locked", None), ("locked", "confirmed", None))


def marked(status: str) -> tuple:
    """A held, confirmed appointment's audit trail ending in `status`, as booking records it."""
    return (*BOOKED, ("confirmed", status, None))


async def test_analytics_count_a_no_show_as_a_kept_booking_whose_minutes_were_used(api, rows, who, replayed):
    period = datetime(2031, 1, 1, 8, tzinfo=UTC) + timedelta(days=random.randrange(3000))  # nobody else's period
    catalog = await rows.catalog(providers=2)
    absent, present = catalog.provider_ids
    missed = await rows.slot(absent, catalog.service_id, period)
    kept = await rows.slot(present, catalog.service_id, period)
    unused = await rows.slot(absent, catalog.service_id, period + timedelta(hours=1))
    await rows.appointment(missed, "no_show", marked("no_show"))
    await rows.appointment(kept, "completed", marked("completed"))
    await rows.appointment(unused, "cancelled", marked("cancelled"))
    await replayed()

    reply = await api.get("/v1/admin/analytics", who("admin"), from_=period, to=period + timedelta(days=1))

    assert reply.status == 200, reply.body
    figures = reply.body
    assert figures["bookings"] == {"confirmed": 0, "cancelled": 1, "completed": 1, "expired": 0, "no_show": 1}
    assert figures["utilization"] == round(60 / 90, 4)  # the no-show's and the completed 30 minutes of 90 offered
    assert figures["cancellation_rate"] == round(1 / 3, 4)  # a no-show is not a cancellation
    by_provider = {row["provider_id"]: row for row in figures["by_provider"]}
    assert by_provider[str(absent)]["bookings"]["no_show"] == 1
    assert by_provider[str(absent)]["utilization"] == 0.5
    assert by_provider[str(present)]["bookings"]["no_show"] == 0
    [clinic] = figures["by_clinic"]
    assert clinic["bookings"]["no_show"] == 1


async def test_a_no_show_event_drops_its_providers_cached_day(app, api, cache, rows, events, at):
    catalog = await rows.catalog()
    day = at(4).replace(hour=10)
    await rows.slot(catalog.provider_id, catalog.service_id, day)
    await api.slot_ids(catalog.service_id, day, day + timedelta(hours=12), provider_id=catalog.provider_id)
    page = cache.page_key(str(catalog.service_id), str(catalog.provider_id), day.date())
    assert await app[REDIS].exists(page) == 1

    await events.deliver("appointment.no_show", {
        "appointment_id": str(uuid.uuid4()), "status": "no_show", "slot_id": str(uuid.uuid4()),
        "provider_id": str(catalog.provider_id), "service_id": str(catalog.service_id),
        "client_id": str(uuid.uuid4()), "starts_at": day.isoformat(),
        "ends_at": (day + timedelta(minutes=30)).isoformat()})

    assert await app[REDIS].exists(page) == 0
