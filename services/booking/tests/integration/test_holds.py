"""Holds on the real database and Redis: the answer, the rows behind it, the outbox event in the same transaction,
and nothing at all written when a hold is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis

from smartslot_common.testing import IsolatedStack

pytestmark = pytest.mark.integration

TTL = timedelta(seconds=300)  # conftest's hold_ttl_seconds
MAX_LIVE_HOLDS = 3
APPOINTMENT_FIELDS = {
    "id", "status", "slot_id", "provider_id", "service_id", "client_id", "starts_at", "ends_at", "hold_expires_at",
    "origin", "assignment", "fee_cents", "currency", "created_at", "updated_at",
}


async def written_for(db: asyncpg.Connection, slot_id: object) -> dict[str, int]:
    """What exists for a slot: appointments, their transitions, outbox events, and the slot's counters."""
    slot = uuid.UUID(str(slot_id))
    return dict(await db.fetchrow(
        "SELECT (SELECT count(*) FROM appointments WHERE slot_id = $1) AS appointments,"
        " (SELECT count(*) FROM appointment_transitions t JOIN appointments a ON a.id = t.appointment_id"
        "  WHERE a.slot_id = $1) AS transitions,"
        " (SELECT count(*) FROM outbox WHERE event_type = 'appointment.locked'"
        "  AND envelope->'payload'->>'slot_id' = $1::text) AS events,"
        " (SELECT held FROM slots WHERE id = $1) AS held, (SELECT version FROM slots WHERE id = $1) AS version",
        slot,
    ))


async def past_slot(db: asyncpg.Connection, catalog: Any, ago: timedelta) -> uuid.UUID:
    """A slot that has already started: the API refuses to make one, so it goes straight into the table."""
    slot_id, starts = uuid.uuid4(), datetime.now(UTC) - ago
    await db.execute(
        "INSERT INTO slots (id, provider_id, service_id, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5)",
        slot_id, uuid.UUID(catalog.provider_id), uuid.UUID(catalog.service_id), starts, starts + catalog.duration,
    )
    return slot_id


async def test_a_hold_is_201_locked_until_database_now_plus_ttl(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    client = api.client()
    before = await db.fetchval("SELECT clock_timestamp()")
    reply = await api.hold(slot["id"], client)
    after = await db.fetchval("SELECT clock_timestamp()")
    assert reply.status == 201, reply.body
    body = reply.body
    assert body.keys() == APPOINTMENT_FIELDS
    assert (body["status"], body["origin"], body["assignment"], body["fee_cents"], body["currency"]) == (
        "locked", "client", "chosen", 0, "EUR")
    assert (body["slot_id"], body["provider_id"], body["service_id"], body["client_id"]) == (
        slot["id"], catalog.provider_id, catalog.service_id, str(client.user_id))
    assert [datetime.fromisoformat(body[key]) for key in ("starts_at", "ends_at")] == [
        datetime.fromisoformat(slot[key]) for key in ("starts_at", "ends_at")]
    deadline = datetime.fromisoformat(body["hold_expires_at"])
    assert deadline.utcoffset() is not None
    assert before + TTL <= deadline <= after + TTL


async def test_a_hold_writes_appointment_transition_counter_and_event_in_one_transaction(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    client = api.client()
    reply = await api.hold(slot["id"], client)
    assert reply.status == 201
    appointment_id = uuid.UUID(reply.body["id"])
    assert await written_for(db, slot["id"]) == {
        "appointments": 1, "transitions": 1, "events": 1, "held": 1, "version": 2}
    stored = await db.fetchrow("SELECT status, client_id, lock_token, created_at FROM appointments WHERE id = $1",
                               appointment_id)
    assert (stored["status"], stored["client_id"]) == ("locked", client.user_id)
    assert stored["lock_token"], "the Redis lock's token is kept as the hold's fencing reference"
    transition = await db.fetchrow("SELECT from_status, to_status, actor_id, actor_role, at"
                                   " FROM appointment_transitions WHERE appointment_id = $1", appointment_id)
    assert (transition["from_status"], transition["to_status"]) == (None, "locked")
    assert (transition["actor_id"], transition["actor_role"]) == (client.user_id, "client")
    event = await db.fetchrow("SELECT event_type, envelope, created_at FROM outbox"
                              " WHERE envelope->'payload'->>'appointment_id' = $1", str(appointment_id))
    envelope = orjson.loads(event["envelope"])
    assert event["event_type"] == envelope["type"] == "appointment.locked"
    assert envelope["producer"] == "booking"
    assert envelope["payload"]["status"] == "locked"
    assert envelope["payload"]["client_id"] == str(client.user_id)
    assert datetime.fromisoformat(envelope["payload"]["hold_expires_at"]) == datetime.fromisoformat(
        reply.body["hold_expires_at"])
    # now() is the transaction's start: equal timestamps on all three rows mean one transaction wrote them.
    assert stored["created_at"] == transition["at"] == event["created_at"]


async def test_an_unknown_slot_is_404_slot_not_found(api: Any, db: asyncpg.Connection) -> None:
    slot_id = uuid.uuid4()
    reply = await api.hold(slot_id, api.client())
    assert (reply.status, reply.code) == (404, "slot_not_found")
    assert reply.content_type == "application/problem+json"
    assert (await written_for(db, slot_id))["events"] == 0


async def test_a_body_without_a_slot_id_is_422(api: Any) -> None:
    for body in ({}, {"slot_id": "tomorrow"}):
        reply = await api.call("POST", "/v1/holds", api.client(), body)
        assert (reply.status, reply.code) == (422, "validation_error")
        assert reply.body["errors"][0]["field"] == "slot_id"


@pytest.mark.parametrize("ago", [timedelta(seconds=1), timedelta(days=2)])
async def test_a_started_slot_is_409_slot_in_past_and_nothing_is_written(
    api: Any, catalog: Any, db: asyncpg.Connection, ago: timedelta
) -> None:
    slot_id = await past_slot(db, catalog, ago)
    reply = await api.hold(slot_id, api.client())
    assert (reply.status, reply.code) == (409, "slot_in_past")
    assert await written_for(db, slot_id) == {"appointments": 0, "transitions": 0, "events": 0, "held": 0,
                                              "version": 1}


async def test_a_slot_no_longer_offered_is_409_slot_unavailable(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    await db.execute("UPDATE slots SET status = 'blocked' WHERE id = $1", uuid.UUID(slot["id"]))
    reply = await api.hold(slot["id"], api.client())
    assert (reply.status, reply.code) == (409, "slot_unavailable")
    assert (await written_for(db, slot["id"]))["appointments"] == 0


async def test_the_hold_quota_is_429_after_max_live_holds(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    client = api.client()
    slots = [await api.slot(catalog, api.future(days=2, minutes=60 * n)) for n in range(MAX_LIVE_HOLDS + 1)]
    for slot in slots[:MAX_LIVE_HOLDS]:
        assert (await api.hold(slot["id"], client)).status == 201
    reply = await api.hold(slots[-1]["id"], client)
    assert (reply.status, reply.code) == (429, "hold_quota")
    assert await written_for(db, slots[-1]["id"]) == {"appointments": 0, "transitions": 0, "events": 0, "held": 0,
                                                      "version": 1}
    assert (await api.hold(slots[-1]["id"], api.client())).status == 201, "another client is not affected"


async def test_an_expired_hold_does_not_count_against_the_quota(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    client = api.client()
    slots = [await api.slot(catalog, api.future(days=3, minutes=60 * n)) for n in range(MAX_LIVE_HOLDS + 1)]
    for slot in slots[:MAX_LIVE_HOLDS]:
        assert (await api.hold(slot["id"], client)).status == 201
    await db.execute("UPDATE appointments SET hold_expires_at = clock_timestamp() - interval '1 second'"
                     " WHERE client_id = $1 AND slot_id = $2", client.user_id, uuid.UUID(slots[0]["id"]))
    assert (await api.hold(slots[-1]["id"], client)).status == 201


async def test_a_held_slot_turns_the_next_client_away_with_slot_held(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    assert (await api.hold(slot["id"], api.client())).status == 201
    reply = await api.hold(slot["id"], api.client())
    assert (reply.status, reply.code) == (409, "slot_held")
    assert await written_for(db, slot["id"]) == {"appointments": 1, "transitions": 1, "events": 1, "held": 1,
                                                 "version": 2}


async def test_without_the_redis_lock_the_database_still_says_no(
    extra_booking: Any, catalog: Any, db: asyncpg.Connection, stack: IsolatedStack
) -> None:
    api = await extra_booking(refusal_memory_seconds=0)  # no memory of the slot either: only PostgreSQL can refuse
    slot = await api.slot(catalog, api.future(days=2))
    assert (await api.hold(slot["id"], api.client())).status == 201
    redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        deleted = await redis.delete(f"{stack.namespace}smartslot:slot:{slot['id']}:lock")
    finally:
        await redis.aclose()
    assert deleted == 1, "the winner's lock outlives the request, for the hold's TTL"
    reply = await api.hold(slot["id"], api.client())
    assert (reply.status, reply.code) == (409, "slot_held"), "its one seat is held"
    assert (await written_for(db, slot["id"]))["held"] == 1


async def test_a_one_seat_hold_keeps_its_lock_for_the_hold_and_a_roomy_slot_gives_it_back(
    api: Any, catalog: Any, stack: IsolatedStack
) -> None:
    one_seat = await api.slot(catalog, api.future(days=2))
    two_seats = await api.slot(catalog, api.future(days=2, minutes=60), capacity=2)
    assert (await api.hold(one_seat["id"], api.client())).status == 201
    assert (await api.hold(two_seats["id"], api.client())).status == 201
    redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        kept = await redis.pttl(f"{stack.namespace}smartslot:slot:{one_seat['id']}:lock")
        given_back = await redis.exists(f"{stack.namespace}smartslot:slot:{two_seats['id']}:lock")
    finally:
        await redis.aclose()
    gate_ms = 5_000  # BookingSettings.lock_gate_seconds' default
    assert gate_ms < kept <= TTL.total_seconds() * 1000, "the gate was extended to the hold's deadline"
    assert given_back == 0, "a slot with seats left is not locked after the claim"


async def test_a_slot_with_two_seats_takes_two_clients(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    slot = await api.slot(catalog, api.future(days=2), capacity=2)
    first, second, third = [await api.hold(slot["id"], api.client()) for _ in range(3)]
    assert first.status == 201
    assert second.status == 201, second.body
    assert (third.status, third.code) in {(409, "slot_held"), (409, "slot_unavailable")}
    assert (await written_for(db, slot["id"]))["held"] == 2


async def test_one_client_cannot_take_two_seats_of_one_slot(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    slot = await api.slot(catalog, api.future(days=2), capacity=3)
    client = api.client()
    assert (await api.hold(slot["id"], client)).status == 201
    reply = await api.hold(slot["id"], client)
    assert reply.status == 409
    written = await written_for(db, slot["id"])
    assert (written["appointments"], written["held"]) == (1, 1)


async def test_only_a_client_may_hold(api: Any, catalog: Any) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    for role in ("provider", "admin"):
        reply = await api.hold(slot["id"], api.who(role))
        assert (reply.status, reply.code) == (404, "not_found")


async def test_an_appointment_is_visible_to_its_client_its_provider_and_admins_only(
    api: Any, catalog: Any
) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    client = api.client()
    appointment = (await api.hold(slot["id"], client)).body
    path = f"/v1/appointments/{appointment['id']}"
    for who in (client, api.who("provider", catalog.provider_user), api.admin()):
        reply = await api.call("GET", path, who)
        assert reply.status == 200, who
        assert reply.body == appointment
    for stranger in (api.client(), api.who("provider")):
        reply = await api.call("GET", path, stranger)
        assert (reply.status, reply.code) == (404, "not_found"), stranger
    for missing in (f"/v1/appointments/{uuid.uuid4()}", "/v1/appointments/nope"):
        assert (await api.call("GET", missing, api.admin())).status == 404
