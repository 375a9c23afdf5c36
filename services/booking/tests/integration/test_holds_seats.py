"""Getting a seat on the real database and Redis: both request shapes, instant booking in one transaction, how long
the slot's lock lives, useful conflicts, the hold quota under concurrency, lazy expiry, and the waitlist's internal
hold endpoint with its reservation window."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from booking.adapters.slots import PostgresSlotRepository
from smartslot_common.testing import IsolatedStack, wait_for

pytestmark = pytest.mark.integration

HOLD_TTL = timedelta(seconds=300)  # conftest's hold_ttl_seconds
SUGGESTION_FIELDS = {"slot_id", "provider_id", "service_id", "starts_at", "ends_at", "remaining"}


def lock_key(stack: IsolatedStack, slot_id: object) -> str:
    return f"{stack.namespace}smartslot:slot:{slot_id}:lock"


async def redis_of(stack: IsolatedStack) -> aioredis.Redis:
    return aioredis.Redis.from_url(stack.redis_url, decode_responses=True)


async def lock_state(stack: IsolatedStack, slot_id: object) -> tuple[str | None, int]:
    """The slot lock's token and remaining life in ms (-2 when there is no lock)."""
    redis = await redis_of(stack)
    try:
        key = lock_key(stack, slot_id)
        return await redis.get(key), await redis.pttl(key)
    finally:
        await redis.aclose()


async def stored(db: asyncpg.Connection, appointment_id: object) -> asyncpg.Record:
    return await db.fetchrow(
        "SELECT status, origin, assignment, lock_token, hold_expires_at FROM appointments WHERE id = $1",
        uuid.UUID(str(appointment_id)),
    )


async def trail(db: asyncpg.Connection, appointment_id: object) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT from_status, to_status, actor_role, reason FROM appointment_transitions WHERE appointment_id = $1"
        " ORDER BY id",
        uuid.UUID(str(appointment_id)),
    )
    return [tuple(row) for row in rows]


async def events_of(db: asyncpg.Connection, appointment_id: object) -> list[str]:
    rows = await db.fetch(
        "SELECT event_type FROM outbox WHERE envelope->'payload'->>'appointment_id' = $1 ORDER BY created_at, seq",
        str(appointment_id),
    )
    return [row["event_type"] for row in rows]


async def seats(db: asyncpg.Connection, slot_id: object) -> tuple[int, int]:
    row = await db.fetchrow("SELECT held, booked FROM slots WHERE id = $1", uuid.UUID(str(slot_id)))
    return row["held"], row["booked"]


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def book(api: Any, body: dict[str, Any], who: Any) -> Any:
    return await api.call("POST", "/v1/appointments", who, body)


# --- holds and their lock ---------------------------------------------------------------------------------------


async def test_a_one_seat_hold_keeps_the_slot_lock_for_its_ttl_under_the_stored_token(
    api: Any, catalog: Any, db: asyncpg.Connection, stack: IsolatedStack
) -> None:
    slot = await api.slot(catalog, api.future(days=3))
    reply = await api.hold(slot["id"], api.client())
    assert reply.status == 201, reply.body
    token, ttl_ms = await lock_state(stack, slot["id"])
    assert token == (await stored(db, reply.body["id"]))["lock_token"]
    assert HOLD_TTL.total_seconds() * 1000 - 10_000 < ttl_ms <= HOLD_TTL.total_seconds() * 1000


async def test_a_roomy_slot_gives_its_gate_back_after_commit_so_other_seats_stay_bookable(
    api: Any, catalog: Any, db: asyncpg.Connection, stack: IsolatedStack
) -> None:
    slot = await api.slot(catalog, api.future(days=3), capacity=2)
    first = await api.hold(slot["id"], api.client())
    assert first.status == 201
    assert await lock_state(stack, slot["id"]) == (None, -2)
    assert (await stored(db, first.body["id"]))["lock_token"] is None, "no lock outlives the request to release"
    second = await api.hold(slot["id"], api.client())
    assert second.status == 201, second.body
    assert await seats(db, slot["id"]) == (2, 0)
    third = await api.hold(slot["id"], api.client())
    assert (third.status, third.code) == (409, "slot_held"), "both seats are held"


async def test_a_hold_by_service_and_start_with_the_provider_named_is_chosen(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    starts = api.future(days=3, minutes=60)
    slot = await api.slot(catalog, starts)
    body = {"service_id": catalog.service_id, "starts_at": starts.isoformat(), "provider_id": catalog.provider_id}
    reply = await api.call("POST", "/v1/holds", api.client(), body)
    assert reply.status == 201, reply.body
    assert (reply.body["slot_id"], reply.body["status"], reply.body["assignment"]) == (slot["id"], "locked", "chosen")
    missing = await api.call("POST", "/v1/holds", api.client(), {**body, "starts_at": (starts + timedelta(minutes=5))
                                                                 .isoformat()})
    assert (missing.status, missing.code) == (404, "slot_not_found")


async def test_a_body_mixing_both_shapes_or_without_a_zone_is_422(api: Any, catalog: Any) -> None:
    starts = api.future(days=3).isoformat()
    for body in ({"slot_id": str(uuid.uuid4()), "service_id": catalog.service_id},
                 {"service_id": catalog.service_id, "starts_at": starts[:19]}, [1, 2]):
        reply = await api.call("POST", "/v1/holds", api.client(), body)
        assert (reply.status, reply.code) == (422, "validation_error"), body


# --- instant booking --------------------------------------------------------------------------------------------


async def test_instant_booking_confirms_in_one_transaction_with_one_event(
    api: Any, catalog: Any, db: asyncpg.Connection, stack: IsolatedStack
) -> None:
    slot = await api.slot(catalog, api.future(days=3))
    client = api.client()
    reply = await book(api, {"slot_id": slot["id"]}, client)
    assert reply.status == 201, reply.body
    assert (reply.body["status"], reply.body["hold_expires_at"], reply.body["origin"]) == ("confirmed", None, "client")
    appointment_id = reply.body["id"]
    assert await seats(db, slot["id"]) == (0, 1), "a booked seat directly, never a held one"
    assert await events_of(db, appointment_id) == ["appointment.confirmed"]
    assert await trail(db, appointment_id) == [
        (None, "locked", "client", "instant booking"), ("locked", "confirmed", "client", "instant booking")]
    times = await db.fetchrow(
        "SELECT a.created_at, (SELECT min(at) FROM appointment_transitions WHERE appointment_id = a.id) AS audit,"
        " (SELECT created_at FROM outbox WHERE envelope->'payload'->>'appointment_id' = a.id::text) AS event"
        " FROM appointments a WHERE a.id = $1", uuid.UUID(appointment_id))
    assert times["created_at"] == times["audit"] == times["event"], "now() is the one transaction's start"
    assert await lock_state(stack, slot["id"]) == (None, -2), "released right after commit"
    again = await book(api, {"slot_id": slot["id"]}, api.client())
    assert (again.status, again.code) == (409, "slot_unavailable")


async def test_instant_booking_of_a_held_slot_is_slot_held_with_suggestions(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    base = api.future(days=4)
    offsets = (1, 2, -3, -4, 5, 8, -9)  # hours from the contested slot, no two equally near
    contested = await api.slot(catalog, base)
    slots = {hours: await api.slot(catalog, base + timedelta(hours=hours)) for hours in offsets}
    assert (await api.hold(contested["id"], api.client())).status == 201
    reply = await book(api, {"slot_id": contested["id"]}, api.client())
    assert (reply.status, reply.code) == (409, "slot_held")
    suggestions = reply.body["suggestions"]
    nearest = sorted(offsets, key=abs)[:5]
    assert [item["slot_id"] for item in suggestions] == [slots[hours]["id"] for hours in nearest], "nearest first"
    assert all(item.keys() == SUGGESTION_FIELDS for item in suggestions)
    assert {(item["service_id"], item["provider_id"], item["remaining"]) for item in suggestions} == {
        (catalog.service_id, catalog.provider_id, 1)}


async def test_a_slot_whose_suggestions_are_all_taken_suggests_none(api: Any, catalog: Any) -> None:
    slot = await api.slot(catalog, api.future(days=40))
    assert (await book(api, {"slot_id": slot["id"]}, api.client())).status == 201
    reply = await api.hold(slot["id"], api.client())
    assert (reply.status, reply.code) == (409, "slot_unavailable")
    assert reply.body["suggestions"] == []


# --- the hold quota ---------------------------------------------------------------------------------------------


async def test_concurrent_holds_of_one_client_never_pass_the_quota_together(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    client = api.client()
    slots = [await api.slot(catalog, api.future(days=5, minutes=60 * n)) for n in range(8)]
    for slot in slots[:2]:
        assert (await api.hold(slot["id"], client)).status == 201
    replies = await asyncio.gather(*(api.hold(slot["id"], client) for slot in slots[2:]))
    assert Counter((reply.status, reply.code) for reply in replies) == {(201, None): 1, (429, "hold_quota"): 5}
    live = await db.fetchval("SELECT count(*) FROM appointments WHERE client_id = $1 AND status = 'locked'",
                             client.user_id)
    assert live == 3


async def test_instant_bookings_are_not_holds_and_do_not_count_against_the_quota(api: Any, catalog: Any) -> None:
    client = api.client()
    slots = [await api.slot(catalog, api.future(days=6, minutes=60 * n)) for n in range(5)]
    for slot in slots[:3]:
        assert (await api.hold(slot["id"], client)).status == 201
    for slot in slots[3:]:
        assert (await book(api, {"slot_id": slot["id"]}, client)).status == 201


# --- lazy expiry ------------------------------------------------------------------------------------------------


async def test_a_full_slot_expires_its_overdue_hold_itself_instead_of_waiting_for_the_sweeper(
    extra_booking: Any, db: asyncpg.Connection, stack: IsolatedStack
) -> None:
    short = await extra_booking(hold_ttl_seconds=2, sweep_interval_seconds=3600)
    catalog = await short.catalog()
    slot = await short.slot(catalog, short.future(days=3))
    first = await short.hold(slot["id"], short.client())
    assert first.status == 201
    first_id = uuid.UUID(first.body["id"])
    deadline = await db.fetchval("SELECT hold_expires_at FROM appointments WHERE id = $1", first_id)
    lazy_before = counter("smartslot_booking_lazy_expiries_total")

    # Every app's sweeper skips rows locked by others (SKIP LOCKED) while a claim waits for them: locking the hold
    # until the claim queues behind us makes the claim, not a sweeper, the one that expires it.
    blocker = await asyncpg.connect(stack.database_url, server_settings={"search_path": "booking"})
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM appointments WHERE id = $1 FOR UPDATE", first_id)
        await wait_for(lambda: db.fetchval("SELECT clock_timestamp() > $1", deadline), timeout=10, what="deadline")
        second = asyncio.create_task(short.hold(slot["id"], short.client()))
        await wait_for(lambda: db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", blocker.get_server_pid(),
        ), timeout=10, what="the claim to wait for the overdue hold")
        await transaction.commit()
        reply = await second
    finally:
        await blocker.close()

    assert reply.status == 201, reply.body
    assert counter("smartslot_booking_lazy_expiries_total") == lazy_before + 1
    assert (await stored(db, first_id))["status"] == "expired"
    assert (await trail(db, first_id))[-1] == ("locked", "expired", "system", "hold deadline passed")
    assert await events_of(db, first_id) == ["appointment.locked", "appointment.expired", "slot.released"]
    released = await db.fetchrow(
        "SELECT envelope->'payload'->>'slot_id' AS slot_id, envelope->'payload'->>'released_by' AS released_by,"
        " envelope->'payload'->>'service_id' AS service_id FROM outbox WHERE event_type = 'slot.released'"
        " AND envelope->'payload'->>'appointment_id' = $1", str(first_id))
    assert tuple(released) == (slot["id"], "system", catalog.service_id)
    assert await seats(db, slot["id"]) == (1, 0)


# --- the waitlist's internal hold -------------------------------------------------------------------------------


async def internal_hold(api: Any, slot_id: object, client_id: uuid.UUID, who: Any, ttl: int = 120) -> Any:
    body = {"slot_id": str(slot_id), "client_id": str(client_id), "ttl_seconds": ttl}
    return await api.call("POST", "/internal/v1/holds", who, body)


async def test_the_internal_hold_is_for_the_system_role_only(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    slot = await api.slot(catalog, api.future(days=7))
    client = api.client()
    for who in (client, api.admin(), api.who("provider")):
        reply = await internal_hold(api, slot["id"], client.user_id, who)
        assert (reply.status, reply.code) == (404, "not_found"), who
    before = await db.fetchval("SELECT clock_timestamp()")
    reply = await internal_hold(api, slot["id"], client.user_id, api.who("system"), ttl=120)
    after = await db.fetchval("SELECT clock_timestamp()")
    assert reply.status == 201, reply.body
    assert (reply.body["status"], reply.body["origin"], reply.body["client_id"]) == (
        "locked", "waitlist", str(client.user_id))
    deadline = datetime.fromisoformat(reply.body["hold_expires_at"])
    assert before + timedelta(seconds=120) <= deadline <= after + timedelta(seconds=120)
    assert (await trail(db, reply.body["id"])) == [(None, "locked", "system", "waitlist offer")]


async def test_a_slot_reserved_for_the_waitlist_is_refused_publicly_and_held_internally(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    starts = api.future(days=8)
    slot = await api.slot(catalog, starts)
    until = datetime.now(UTC) + timedelta(minutes=10)
    await PostgresSlotRepository(db).reserve_for_waitlist(uuid.UUID(slot["id"]), until)
    for body, call in (({"slot_id": slot["id"]}, "/v1/holds"), ({"slot_id": slot["id"]}, "/v1/appointments"),
                       ({"service_id": catalog.service_id, "starts_at": starts.isoformat()}, "/v1/holds")):
        reply = await api.call("POST", call, api.client(), body)
        assert (reply.status, reply.code) in {(409, "slot_unavailable"), (409, "no_provider_available")}, body
    assert await seats(db, slot["id"]) == (0, 0)
    reply = await internal_hold(api, slot["id"], uuid.uuid4(), api.who("system"))
    assert reply.status == 201, reply.body


async def test_a_lapsed_reservation_returns_the_slot_to_the_public(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=8, minutes=120))
    until = datetime.now(UTC) - timedelta(seconds=1)
    await PostgresSlotRepository(db).reserve_for_waitlist(uuid.UUID(slot["id"]), until)
    assert (await api.hold(slot["id"], api.client())).status == 201


async def test_the_waitlist_hold_skips_the_client_quota(api: Any, catalog: Any) -> None:
    client = api.client()
    slots = [await api.slot(catalog, api.future(days=9, minutes=60 * n)) for n in range(4)]
    for slot in slots[:3]:
        assert (await api.hold(slot["id"], client)).status == 201
    assert (await api.hold(slots[3]["id"], client)).status == 429
    assert (await internal_hold(api, slots[3]["id"], client.user_id, api.who("system"))).status == 201
