"""Time off on the real database: the slots inside are blocked; booked appointments inside are a 409 that writes
nothing, unless `cancel_conflicting`, which cancels them fee-free in the same transaction and tells their clients;
working hours never put a slot back inside time off."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
import pytest

from booking.app_keys import LOCK, REDIS

pytestmark = pytest.mark.integration

# A client cancelling within 30 days pays everything: any fee the time off charged would show.
STRICT = {"kind": "tiered", "tiers": [{"within_hours": 720, "fee_percent": 100}]}
MINUTES = 30


@dataclass(frozen=True)
class Office:
    """A provider with a strict service and four back-to-back slots some days ahead."""

    provider_id: str
    service_id: str
    provider: Any
    slots: list[dict[str, Any]]


async def office(api: Any, days: int = 6) -> Office:
    service = await api.created("/v1/services", {
        "name": "Surgery", "duration_minutes": MINUTES, "price_cents": 20000, "currency": "EUR",
        "cancellation_policy": STRICT})
    clinic = await api.created("/v1/clinics", {"name": "Charité", "timezone": "Europe/Berlin"})
    user = uuid.uuid4()
    provider = await api.created("/v1/providers", {
        "user_id": str(user), "clinic_id": clinic["id"], "display_name": "Dr. Brandt", "service_ids": [service["id"]]})
    first = api.future(days=days)
    slots = [await api.created(f"/v1/providers/{provider['id']}/slots", {
        "service_id": service["id"], "starts_at": (first + timedelta(minutes=MINUTES * n)).isoformat()})
        for n in range(4)]
    return Office(provider["id"], service["id"], api.who("provider", user), slots)


def at(place: Office, index: int, minutes: int = 0) -> str:
    """The start of slot `index`, shifted by `minutes`, as sent in a request."""
    return (datetime.fromisoformat(place.slots[index]["starts_at"]) + timedelta(minutes=minutes)).isoformat()


async def time_off(api: Any, place: Office, starts_at: str, ends_at: str, **extra: Any) -> Any:
    return await api.call("POST", f"/v1/providers/{place.provider_id}/time-off", place.provider,
                          {"starts_at": starts_at, "ends_at": ends_at, "reason": "conference", **extra})


async def statuses(db: asyncpg.Connection, place: Office) -> list[str]:
    rows = await db.fetch("SELECT status FROM slots WHERE id = ANY($1::uuid[]) ORDER BY starts_at",
                          [uuid.UUID(slot["id"]) for slot in place.slots])
    return [row["status"] for row in rows]


async def events(db: asyncpg.Connection, event_type: str, key: str, values: list[str]) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT envelope->'payload' AS payload FROM outbox WHERE event_type = $1"
                          " AND envelope->'payload'->>$2 = ANY($3::text[]) ORDER BY created_at, seq",
                          event_type, key, values)
    return [orjson.loads(row["payload"]) for row in rows]


async def hold_and_confirm(api: Any, place: Office) -> tuple[dict[str, Any], dict[str, Any]]:
    """A hold on slot 0 and a confirmed appointment on slot 2, each of its own client."""
    held = await api.hold(place.slots[0]["id"], api.client())
    assert held.status == 201, held.body
    who = api.client()
    hold = await api.hold(place.slots[2]["id"], who)
    confirmed = await api.call("POST", f"/v1/appointments/{hold.body['id']}/confirm", who)
    assert confirmed.status == 200, confirmed.body
    return held.body, confirmed.body


async def test_time_off_blocks_exactly_the_open_slots_it_overlaps(api: Any, db: asyncpg.Connection) -> None:
    place = await office(api)
    reply = await time_off(api, place, at(place, 1, 15), at(place, 2, 15))
    assert reply.status == 201, reply.body
    body = reply.body
    assert set(body) >= {"id", "provider_id", "starts_at", "ends_at", "reason", "blocked_slot_ids",
                         "cancelled_appointment_ids"}
    assert (body["provider_id"], body["reason"], body["cancelled_appointment_ids"]) == (
        place.provider_id, "conference", [])
    assert datetime.fromisoformat(body["starts_at"]) == datetime.fromisoformat(at(place, 1, 15))
    assert body["blocked_slot_ids"] == [place.slots[1]["id"], place.slots[2]["id"]]
    assert await statuses(db, place) == ["open", "blocked", "blocked", "open"]

    blocked = await events(db, "slot.blocked", "slot_id", body["blocked_slot_ids"])
    assert [(e["slot_id"], e["reason"], e["time_off_id"]) for e in blocked] == [
        (slot_id, "time_off", body["id"]) for slot_id in body["blocked_slot_ids"]]
    reply = await api.hold(place.slots[1]["id"], api.client())
    assert (reply.status, reply.code) == (409, "slot_unavailable")


async def test_booked_appointments_inside_time_off_are_409_with_their_ids_and_nothing_is_written(
    api: Any, db: asyncpg.Connection
) -> None:
    place = await office(api)
    held, confirmed = await hold_and_confirm(api, place)
    before = await db.fetch("SELECT id, status, version FROM appointments WHERE provider_id = $1 ORDER BY id",
                            uuid.UUID(place.provider_id))
    reply = await time_off(api, place, at(place, 0), at(place, 3, MINUTES))
    assert (reply.status, reply.code) == (409, "conflicting_appointments"), reply.body
    assert reply.body["appointment_ids"] == [held["id"], confirmed["id"]]
    assert await db.fetchval("SELECT count(*) FROM time_off WHERE provider_id = $1", uuid.UUID(place.provider_id)) == 0
    assert await statuses(db, place) == ["open", "open", "open", "open"]
    assert await db.fetch("SELECT id, status, version FROM appointments WHERE provider_id = $1 ORDER BY id",
                          uuid.UUID(place.provider_id)) == before
    assert await events(db, "slot.blocked", "provider_id", [place.provider_id]) == []

    reply = await time_off(api, place, at(place, 1), at(place, 2))
    assert reply.status == 201, "time off next to the bookings is fine"
    assert reply.body["blocked_slot_ids"] == [place.slots[1]["id"]]


async def test_cancel_conflicting_cancels_them_fee_free_in_the_same_transaction_and_tells_the_clients(
    api: Any, db: asyncpg.Connection
) -> None:
    place = await office(api)
    held, confirmed = await hold_and_confirm(api, place)
    lock_key = api.http.app[LOCK].key(place.slots[0]["id"])
    assert await api.http.app[REDIS].exists(lock_key), "the hold keeps its Redis lock for its TTL"

    reply = await time_off(api, place, at(place, 0), at(place, 3, MINUTES), cancel_conflicting=True,
                           reason="sick leave")
    assert reply.status == 201, reply.body
    ids = [held["id"], confirmed["id"]]
    assert reply.body["cancelled_appointment_ids"] == ids
    assert reply.body["blocked_slot_ids"] == [slot["id"] for slot in place.slots]
    rows = await db.fetch("SELECT status, fee_cents FROM appointments WHERE id = ANY($1::uuid[])",
                          [uuid.UUID(i) for i in ids])
    assert {(row["status"], row["fee_cents"]) for row in rows} == {("cancelled", 0)}
    audit = await db.fetch("SELECT from_status, to_status, actor_id, actor_role, reason FROM appointment_transitions"
                           " WHERE appointment_id = ANY($1::uuid[]) AND to_status = 'cancelled'"
                           " ORDER BY from_status DESC", [uuid.UUID(i) for i in ids])
    assert [tuple(row) for row in audit] == [
        ("locked", "cancelled", place.provider.user_id, "provider", "sick leave"),
        ("confirmed", "cancelled", place.provider.user_id, "provider", "sick leave"),
    ]
    seats = await db.fetch("SELECT held, booked, status FROM slots WHERE id = ANY($1::uuid[])",
                           [uuid.UUID(slot["id"]) for slot in place.slots])
    assert {tuple(row) for row in seats} == {(0, 0, "blocked")}
    told = await events(db, "appointment.cancelled", "appointment_id", ids)
    assert sorted(e["appointment_id"] for e in told) == sorted(ids)
    assert {e["client_id"] for e in told} == {held["client_id"], confirmed["client_id"]}
    assert len(await events(db, "slot.blocked", "provider_id", [place.provider_id])) == 4
    assert not await api.http.app[REDIS].exists(lock_key), "the cancelled hold's Redis lock is released"
    reply = await api.call("GET", f"/v1/appointments/{confirmed['id']}", api.admin())
    assert (reply.body["status"], reply.body["fee_cents"]) == ("cancelled", 0)


async def test_working_hours_never_put_a_slot_back_inside_time_off(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    zone = ZoneInfo(catalog.zone)
    rules = {"rules": [{"weekday": day, "start": "09:00", "end": "12:00", "service_id": catalog.service_id}
                       for day in range(7)]}
    path = f"/v1/providers/{catalog.provider_id}/working-hours"
    assert (await api.call("PUT", path, api.admin(), rules)).status == 200
    day = (datetime.now(zone) + timedelta(days=5)).date()
    away = (datetime.combine(day, time(0), zone), datetime.combine(day + timedelta(days=2), time(0), zone))
    reply = await api.call("POST", f"/v1/providers/{catalog.provider_id}/time-off", api.admin(), {
        "starts_at": away[0].isoformat(), "ends_at": away[1].isoformat(), "reason": "holiday"})
    assert reply.status == 201
    assert len(reply.body["blocked_slot_ids"]) == 12

    rules["rules"] = [rule | {"start": "08:45", "end": "12:15"} for rule in rules["rules"]]
    assert (await api.call("PUT", path, api.admin(), rules)).status == 200
    inside = await db.fetch("SELECT status, count(*) FROM slots WHERE provider_id = $1 AND starts_at < $3"
                            " AND ends_at > $2 GROUP BY status", uuid.UUID(catalog.provider_id), *away)
    assert {row["status"]: row["count"] for row in inside} == {"blocked": 12}
    outside = await db.fetchval("SELECT count(*) FROM slots WHERE provider_id = $1 AND status = 'open'"
                                " AND starts_at::date = $2::date", uuid.UUID(catalog.provider_id),
                                away[1] + timedelta(hours=12))
    assert outside == 7, "the day after the time off has the new 08:45-12:15 slots"
    reply = await api.call("POST", f"/v1/providers/{catalog.provider_id}/slots", api.admin(), {
        "service_id": catalog.service_id, "starts_at": (away[0] + timedelta(hours=20)).isoformat()})
    assert (reply.status, reply.code) == (409, "slot_overlap")


@pytest.mark.parametrize(
    ("starts", "ends"), [(-120, -60), (60, 60), (60, 30)], ids=["already over", "empty", "backwards"],
)
async def test_time_off_that_is_over_or_runs_backwards_is_422(
    api: Any, db: asyncpg.Connection, starts: int, ends: int
) -> None:
    place = await office(api)
    now = api.future(days=0)
    reply = await time_off(api, place, (now + timedelta(minutes=starts)).isoformat(),
                           (now + timedelta(minutes=ends)).isoformat())
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    assert await db.fetchval("SELECT count(*) FROM time_off WHERE provider_id = $1", uuid.UUID(place.provider_id)) == 0


async def test_time_off_with_an_idempotency_key_is_recorded_once(api: Any, db: asyncpg.Connection) -> None:
    place = await office(api)
    body = {"starts_at": at(place, 0), "ends_at": at(place, 1), "reason": "training"}
    headers = {**place.provider.headers, "Idempotency-Key": f"time-off-{uuid.uuid4()}"}
    answers = []
    for _ in range(2):
        async with api.http.post(f"/v1/providers/{place.provider_id}/time-off", json=body,
                                 headers=headers) as response:
            answers.append((response.status, await response.json(), response.headers.get("Idempotent-Replayed")))
    assert [(status, replayed) for status, _, replayed in answers] == [(201, None), (201, "true")]
    assert answers[0][1] == answers[1][1]
    assert await db.fetchval("SELECT count(*) FROM time_off WHERE provider_id = $1", uuid.UUID(place.provider_id)) == 1


@pytest.mark.parametrize("cancel_conflicting", [False, True])
async def test_time_off_racing_holds_never_leaves_a_live_appointment_inside_it(
    api: Any, db: asyncpg.Connection, cancel_conflicting: bool
) -> None:
    place = await office(api)
    racers = [api.hold(slot["id"], api.client()) for slot in place.slots for _ in range(3)]
    request = time_off(api, place, at(place, 0), at(place, 3, MINUTES), cancel_conflicting=cancel_conflicting)
    reply, *holds = await asyncio.gather(request, *racers)
    assert reply.status in (201, 409), reply.body
    assert {hold.status for hold in holds} <= {201, 409}
    live = await db.fetch("SELECT id FROM appointments WHERE provider_id = $1 AND status IN ('locked', 'confirmed')",
                          uuid.UUID(place.provider_id))
    if reply.status == 201:
        assert live == [], "after time off, nothing is booked inside it"
        assert await statuses(db, place) == ["blocked"] * 4
    else:
        assert not cancel_conflicting
        # Holds that won after the refused time off rolled back are live too; none it named has gone.
        assert set(reply.body["appointment_ids"]) <= {str(row["id"]) for row in live}
        assert reply.body["appointment_ids"]
        assert await db.fetchval("SELECT count(*) FROM time_off WHERE provider_id = $1",
                                 uuid.UUID(place.provider_id)) == 0
