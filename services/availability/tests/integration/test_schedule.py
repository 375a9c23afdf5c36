"""`GET /v1/providers/{id}/schedule`: the provider's local day, midnight to midnight in its zone (23 or 25 hours when
the clocks change), times with the offset in force; only for that provider's user or an admin."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

pytestmark = pytest.mark.integration

# (zone, local day, hours, [(slot start in UTC, expected local start or None when outside the day)])
DST_DAYS = [
    ("Europe/Berlin", "2026-03-29", 23, [
        ("2026-03-28T22:30:00+00:00", None),
        ("2026-03-28T23:00:00+00:00", "2026-03-29T00:00:00+01:00"),
        ("2026-03-29T00:30:00+00:00", "2026-03-29T01:30:00+01:00"),
        ("2026-03-29T01:00:00+00:00", "2026-03-29T03:00:00+02:00"),  # 02:00 to 03:00 does not exist
        ("2026-03-29T21:30:00+00:00", "2026-03-29T23:30:00+02:00"),
        ("2026-03-29T22:00:00+00:00", None),
    ]),
    ("Europe/Berlin", "2026-10-25", 25, [
        ("2026-10-24T21:30:00+00:00", None),
        ("2026-10-24T22:00:00+00:00", "2026-10-25T00:00:00+02:00"),
        ("2026-10-25T00:30:00+00:00", "2026-10-25T02:30:00+02:00"),
        ("2026-10-25T01:30:00+00:00", "2026-10-25T02:30:00+01:00"),  # 02:30 again, an hour later
        ("2026-10-25T22:30:00+00:00", "2026-10-25T23:30:00+01:00"),
        ("2026-10-25T23:00:00+00:00", None),
    ]),
    ("America/New_York", "2026-03-08", 23, [
        ("2026-03-08T04:30:00+00:00", None),
        ("2026-03-08T05:00:00+00:00", "2026-03-08T00:00:00-05:00"),
        ("2026-03-08T06:30:00+00:00", "2026-03-08T01:30:00-05:00"),
        ("2026-03-08T07:00:00+00:00", "2026-03-08T03:00:00-04:00"),
        ("2026-03-09T03:30:00+00:00", "2026-03-08T23:30:00-04:00"),
        ("2026-03-09T04:00:00+00:00", None),
    ]),
    ("America/New_York", "2026-11-01", 25, [
        ("2026-11-01T03:30:00+00:00", None),
        ("2026-11-01T04:00:00+00:00", "2026-11-01T00:00:00-04:00"),
        ("2026-11-01T05:30:00+00:00", "2026-11-01T01:30:00-04:00"),
        ("2026-11-01T06:30:00+00:00", "2026-11-01T01:30:00-05:00"),
        ("2026-11-02T04:30:00+00:00", "2026-11-01T23:30:00-05:00"),
        ("2026-11-02T05:00:00+00:00", None),
    ]),
]


@pytest.mark.parametrize(("zone", "day", "hours", "slots"), DST_DAYS, ids=[f"{z}-{d}" for z, d, _, _ in DST_DAYS])
async def test_a_day_view_across_a_dst_change_shows_local_times_and_its_real_length(
    api, rows, who, replayed, zone, day, hours, slots
):
    catalog = await rows.catalog(zone=zone)
    ids = [await rows.slot(catalog.provider_id, catalog.service_id, datetime.fromisoformat(start))
           for start, _ in slots]
    booked = ids[3]
    appointment = await rows.appointment(booked, "confirmed", client_name="Ada")
    await replayed()

    reply = await api.get(f"/v1/providers/{catalog.provider_id}/schedule", who("admin"), date=day)

    assert reply.status == 200, reply.body
    view = reply.body
    assert (view["date"], view["timezone"], view["hours"]) == (day, zone, hours)
    assert view["starts_at"].startswith(f"{day}T00:00:00")
    assert [item["starts_at"] for item in view["slots"]] == [local for _, local in slots if local]
    assert [item["id"] for item in view["slots"]] == [str(i) for i, (_, local) in zip(ids, slots, strict=True)
                                                      if local]
    [shown] = view["appointments"]
    assert (shown["id"], shown["starts_at"], shown["client_name"]) == (str(appointment), slots[3][1], "Ada")
    end = datetime.fromisoformat(shown["ends_at"]) - datetime.fromisoformat(shown["starts_at"])
    assert end == timedelta(minutes=30)


async def test_a_provider_sees_only_its_own_day_and_admins_see_any(api, rows, who, db, replayed):
    catalog = await rows.catalog(providers=2)
    own, other = catalog.provider_ids
    owner = who("provider", catalog.provider_users[0])
    await replayed()
    path = f"/v1/providers/{own}/schedule"

    assert (await api.get(path, owner, date="2026-12-01")).status == 200
    assert (await api.get(path, who("admin"), date="2026-12-01")).status == 200
    for stranger in (who("provider", catalog.provider_users[1]), who("provider"), who("client")):
        reply = await api.get(path, stranger, date="2026-12-01")
        assert (reply.status, reply.body["code"]) == (404, "not_found")
    assert (await api.get(f"/v1/providers/{uuid.uuid4()}/schedule", who("admin"), date="2026-12-01")).status == 404
    assert (await api.get("/v1/providers/not-an-id/schedule", who("admin"), date="2026-12-01")).status == 404
    assert (await api.get(f"/v1/providers/{other}/schedule", owner, date="2026-12-01")).status == 404

    await db.execute("UPDATE booking.providers SET deleted_at = now() WHERE id = $1", own)
    await replayed()
    assert (await api.get(path, owner, date="2026-12-01")).status == 404
    assert (await api.get(path, who("admin"), date="2026-12-01")).status == 200  # kept for history


async def test_a_provider_created_a_moment_ago_is_found_on_the_primary(api, rows, who):
    catalog = await rows.catalog()  # asked at once, before waiting for the replica
    reply = await api.get(f"/v1/providers/{catalog.provider_id}/schedule", who("admin"), date="2026-12-01")
    assert reply.status == 200
