"""Ad-hoc slots and working hours on the real database: overlap and past refused, slots made in the provider's zone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

pytestmark = pytest.mark.integration


async def slot_rows(db: asyncpg.Connection, provider_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT id, starts_at, ends_at, capacity, held, booked, status, origin, version FROM slots"
        " WHERE provider_id = $1 ORDER BY starts_at", uuid.UUID(provider_id),
    )


async def test_an_ad_hoc_slot_is_made_with_the_services_duration(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    starts = api.future(days=3)
    slot = await api.slot(catalog, starts, capacity=2)
    assert datetime.fromisoformat(slot["starts_at"]) == starts
    assert datetime.fromisoformat(slot["ends_at"]) == starts + catalog.duration
    assert (slot["capacity"], slot["held"], slot["booked"], slot["status"]) == (2, 0, 0, "open")
    [row] = await slot_rows(db, catalog.provider_id)
    assert (row["origin"], row["version"]) == ("ad_hoc", 1)
    event = await db.fetchrow("SELECT event_type, envelope->'payload' AS payload FROM outbox"
                              " WHERE envelope->'payload'->>'slot_id' = $1", slot["id"])
    assert event["event_type"] == "slot.created"


async def test_an_offset_in_the_request_names_the_same_instant(api: Any, catalog: Any) -> None:
    starts = api.future(days=4)
    in_tokyo = starts.astimezone(ZoneInfo("Asia/Tokyo"))
    slot = await api.slot(catalog, in_tokyo)
    assert datetime.fromisoformat(slot["starts_at"]) == starts


@pytest.mark.parametrize("shift_minutes", [0, 10, -10, 29, -29])
async def test_an_overlapping_slot_is_409_slot_overlap(
    api: Any, catalog: Any, db: asyncpg.Connection, shift_minutes: int
) -> None:
    starts = api.future(days=5)
    await api.slot(catalog, starts)
    reply = await api.call("POST", f"/v1/providers/{catalog.provider_id}/slots", api.admin(), {
        "service_id": catalog.service_id, "starts_at": (starts + timedelta(minutes=shift_minutes)).isoformat(),
    })
    assert (reply.status, reply.code) == (409, "slot_overlap")
    assert len(await slot_rows(db, catalog.provider_id)) == 1
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'slot.created'"
                             " AND envelope->'payload'->>'provider_id' = $1", catalog.provider_id) == 1


async def test_back_to_back_slots_do_not_overlap(api: Any, catalog: Any) -> None:
    starts = api.future(days=5)
    await api.slot(catalog, starts)
    await api.slot(catalog, starts + catalog.duration)
    await api.slot(catalog, starts - catalog.duration)


async def test_another_provider_may_use_the_same_time(api: Any, catalog: Any) -> None:
    starts = api.future(days=5)
    await api.slot(catalog, starts)
    other = await api.catalog()
    await api.slot(other, starts)


@pytest.mark.parametrize("ago", [timedelta(seconds=1), timedelta(days=1)])
async def test_a_slot_in_the_past_is_409_slot_in_past(
    api: Any, catalog: Any, db: asyncpg.Connection, ago: timedelta
) -> None:
    reply = await api.call("POST", f"/v1/providers/{catalog.provider_id}/slots", api.admin(), {
        "service_id": catalog.service_id, "starts_at": (datetime.now(UTC) - ago).isoformat(),
    })
    assert (reply.status, reply.code) == (409, "slot_in_past")
    assert await slot_rows(db, catalog.provider_id) == []


async def test_a_slot_for_a_service_the_provider_does_not_offer_is_422(api: Any, catalog: Any) -> None:
    other = await api.catalog()
    reply = await api.call("POST", f"/v1/providers/{catalog.provider_id}/slots", api.admin(), {
        "service_id": other.service_id, "starts_at": api.future().isoformat(),
    })
    assert (reply.status, reply.code) == (422, "validation_error")


async def test_a_slot_of_an_unknown_provider_is_404(api: Any, catalog: Any) -> None:
    for provider in (str(uuid.uuid4()), "not-a-uuid"):
        reply = await api.call("POST", f"/v1/providers/{provider}/slots", api.admin(), {
            "service_id": catalog.service_id, "starts_at": api.future().isoformat(),
        })
        assert reply.status == 404


# --- working hours ------------------------------------------------------------------------------------------------


def transition_days(zone: ZoneInfo, first: date, days: int) -> list[date]:
    """Days in [first, first + days) on which the zone's offset changes."""
    noon = [datetime.combine(first + timedelta(days=n), time(12), tzinfo=zone) for n in range(days)]
    return [b.date() for a, b in pairwise(noon) if a.utcoffset() != b.utcoffset()]


async def put_hours(api: Any, catalog: Any, rules: list[dict[str, Any]]) -> Any:
    return await api.call("PUT", f"/v1/providers/{catalog.provider_id}/working-hours", api.admin(), {"rules": rules})


@pytest.mark.parametrize("zone_name", ["Europe/Berlin", "America/New_York"])
async def test_working_hours_become_slots_at_local_wall_clock_times_across_dst(
    api: Any, db: asyncpg.Connection, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    catalog = await api.catalog(zone=zone_name)
    sunday_rules = [{"weekday": 6, "start": "09:00", "end": "12:00", "service_id": catalog.service_id},
                    {"weekday": 6, "start": "01:00", "end": "04:00", "service_id": catalog.service_id}]
    reply = await put_hours(api, catalog, sunday_rules)
    assert reply.status == 200, reply.body
    rows = await slot_rows(db, catalog.provider_id)
    assert reply.body["slots_created"] == len(rows) > 0
    assert {row["origin"] for row in rows} == {"working_hours"}

    by_day: dict[date, list[str]] = {}
    for row in rows:
        local = row["starts_at"].astimezone(zone)
        by_day.setdefault(local.date(), []).append(local.strftime("%H:%M%z"))
        assert row["ends_at"] - row["starts_at"] == catalog.duration
    assert {day.weekday() for day in by_day} == {6}
    for earlier, later in pairwise(rows):
        assert earlier["ends_at"] <= later["starts_at"]

    changes = transition_days(zone, min(by_day), 366)
    assert len(changes) == 2, "both of the coming year's DST changes fall inside the horizon"
    office = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    today = datetime.now(zone).date()
    for day, starts in by_day.items():
        office_starts = [start[:5] for start in starts if start >= "09"]
        if day == today:  # run on a Sunday morning: only the hours not yet begun became slots
            assert office_starts == office[len(office) - len(office_starts):]
        else:
            assert office_starts == office
    spring, fall = sorted(changes, key=lambda day: datetime.combine(day, time(12), tzinfo=zone).dst())[::-1]
    night = {day: [start for start in starts if start < "09"] for day, starts in by_day.items()}
    assert len(night[spring]) == 4, f"2 h of slots on the spring-forward night, got {night[spring]}"
    assert len(night[fall]) == 8, f"4 h of slots on the fall-back night, got {night[fall]}"
    ordinary = [starts for day, starts in night.items() if day not in changes and day != min(by_day)]
    assert all(len(starts) == 6 for starts in ordinary)


async def test_new_working_hours_replace_the_untouched_future_slots(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    first = await put_hours(api, catalog, [{"weekday": 2, "start": "09:00", "end": "10:00",
                                            "service_id": catalog.service_id}])
    second = await put_hours(api, catalog, [{"weekday": 3, "start": "14:00", "end": "15:00",
                                             "service_id": catalog.service_id}])
    assert first.status == second.status == 200
    rows = await slot_rows(db, catalog.provider_id)
    assert len(rows) == second.body["slots_created"]
    local = {row["starts_at"].astimezone(ZoneInfo(catalog.zone)) for row in rows}
    assert {moment.weekday() for moment in local} == {3}
    assert {moment.strftime("%H:%M") for moment in local} == {"14:00", "14:30"}
    stored = await db.fetch("SELECT weekday, start_local, end_local FROM working_hours WHERE provider_id = $1",
                            uuid.UUID(catalog.provider_id))
    assert [tuple(row) for row in stored] == [(3, time(14), time(15))]


async def test_working_hours_keep_a_held_slot(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    await put_hours(api, catalog, [{"weekday": 4, "start": "09:00", "end": "10:00",
                                    "service_id": catalog.service_id}])
    [first, *_] = await slot_rows(db, catalog.provider_id)
    assert (await api.hold(first["id"], api.client())).status == 201
    await put_hours(api, catalog, [{"weekday": 4, "start": "09:15", "end": "11:00",
                                    "service_id": catalog.service_id}])
    rows = await slot_rows(db, catalog.provider_id)
    assert first["id"] in {row["id"] for row in rows}, "the held slot survives"
    for earlier, later in pairwise(rows):
        assert earlier["ends_at"] <= later["starts_at"], "regenerated slots skip around the kept one"


@pytest.mark.parametrize(
    "rules",
    [
        [{"weekday": 1, "start": "12:00", "end": "09:00"}],
        [{"weekday": 1, "start": "09:00", "end": "09:00"}],
        [{"weekday": 1, "start": "09:00", "end": "12:00"}, {"weekday": 1, "start": "09:00", "end": "10:00"}],
        [{"weekday": 7, "start": "09:00", "end": "12:00"}],
        [{"weekday": 1, "start": "9am", "end": "12:00"}],
    ],
)
async def test_bad_working_hours_are_422_and_change_nothing(
    api: Any, db: asyncpg.Connection, rules: list[dict[str, Any]]
) -> None:
    catalog = await api.catalog()
    reply = await put_hours(api, catalog, [rule | {"service_id": catalog.service_id} for rule in rules])
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    assert await slot_rows(db, catalog.provider_id) == []


async def test_working_hours_for_a_service_not_offered_are_422(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    reply = await put_hours(api, catalog, [{"weekday": 1, "start": "09:00", "end": "10:00",
                                            "service_id": str(uuid.uuid4())}])
    assert (reply.status, reply.code) == (422, "validation_error")
    assert await slot_rows(db, catalog.provider_id) == []
