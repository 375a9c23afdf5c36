"""`GET /v1/admin/analytics`: counts and ratios over the appointments and slots starting in a period, per provider
and per clinic too, read from booking's tables on the replica."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.integration
CONFIRMED = ((None, "locked", None), ("locked", "confirmed", None))
INSTANT = ((None, "locked", "instant booking"), ("locked", "confirmed", "instant booking"))


def then(*steps: str) -> tuple:
    """A held and confirmed appointment's path, followed by `steps`."""
    path, last = list(CONFIRMED), "confirmed"
    for step in steps:
        path.append((last, step, None))
        last = step
    return tuple(path)


async def test_figures_follow_their_definitions_overall_per_provider_and_per_clinic(api, rows, who, replayed):
    period = datetime(2031, 1, 1, 8, tzinfo=UTC) + timedelta(days=random.randrange(3000))  # nobody else's period
    a = await rows.catalog()
    b_clinic = await rows.clinic()
    b, _ = await rows.provider(b_clinic, a.service_id, "UTC", "Dr. Zed")
    long = await rows.slot(a.provider_id, a.service_id, period, minutes=60, capacity=2)
    short = await rows.slot(a.provider_id, a.service_id, period + timedelta(hours=2), capacity=2)
    await rows.slot(a.provider_id, a.service_id, period + timedelta(hours=3), status="blocked")  # not offered
    elsewhere = await rows.slot(b, a.service_id, period + timedelta(hours=1))
    outside = await rows.slot(a.provider_id, a.service_id, period - timedelta(hours=2))
    await rows.appointment(long, "completed", then("completed"))
    await rows.appointment(short, "confirmed", INSTANT)
    await rows.appointment(short, "cancelled", then("cancelled"), fee_cents=1500)
    await rows.appointment(short, "expired", ((None, "locked", None), ("locked", "expired", None)))
    await rows.appointment(short, "confirmed", CONFIRMED, origin="waitlist")
    await rows.appointment(short, "expired", ((None, "locked", None), ("locked", "expired", None)), origin="waitlist")
    await rows.appointment(elsewhere, "no_show", then("no_show"))
    await rows.appointment(outside, "cancelled", then("cancelled"), fee_cents=99)
    await replayed()

    reply = await api.get("/v1/admin/analytics", who("admin"), from_=period, to=period + timedelta(days=1))

    assert reply.status == 200, reply.body
    figures = reply.body
    assert figures["bookings"] == {"confirmed": 2, "cancelled": 1, "completed": 1, "expired": 2, "no_show": 1}
    assert figures["utilization"] == round(150 / 210, 4)  # (60 + 30 + 30 + 30) of (60*2 + 30*2 + 30)
    assert figures["cancellation_rate"] == 0.2  # 1 of the 5 ever confirmed
    assert figures["fees_cents"] == 1500
    assert figures["hold_conversion"] == round(4 / 6, 4)  # the instant booking was never a hold
    assert figures["waitlist"] == {"offers": 2, "accepted": 1, "fill_rate": 0.5}
    by_provider = {row["provider_id"]: row for row in figures["by_provider"]}
    assert by_provider[str(a.provider_id)]["utilization"] == round(120 / 180, 4)
    assert by_provider[str(b)]["bookings"]["no_show"] == 1
    assert by_provider[str(b)]["clinic_id"] == str(b_clinic)
    by_clinic = {row["clinic_id"]: row for row in figures["by_clinic"]}
    assert set(by_clinic) == {str(a.clinic_id), str(b_clinic)}
    assert by_clinic[str(b_clinic)]["utilization"] == 1.0
    assert by_clinic[str(a.clinic_id)]["fees_cents"] == 1500


async def test_an_empty_period_answers_zeros_in_the_documented_shape(api, who):
    quiet = datetime(2045, 1, 1, tzinfo=UTC)
    reply = await api.get("/v1/admin/analytics", who("admin"), from_=quiet, to=quiet + timedelta(days=30))
    assert reply.status == 200
    assert reply.body == {
        "bookings": {"confirmed": 0, "cancelled": 0, "completed": 0, "expired": 0, "no_show": 0},
        "utilization": 0.0, "cancellation_rate": 0.0, "fees_cents": 0, "hold_conversion": 0.0,
        "waitlist": {"offers": 0, "accepted": 0, "fill_rate": 0.0}, "by_provider": [], "by_clinic": [],
    }
