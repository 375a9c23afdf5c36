"""Confirming a hold on the real database and Redis: the seat turns from held to booked in one transaction with its
event and audit row; past the deadline (database clock) the answer is 410 and the hold is gone for good."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis

from smartslot_common.testing import IsolatedStack, wait_for

pytestmark = pytest.mark.integration

SHORT_TTL = 2
EPSILON = timedelta(milliseconds=500)


async def seats(db: asyncpg.Connection, slot_id: object) -> tuple[int, int]:
    row = await db.fetchrow("SELECT held, booked FROM slots WHERE id = $1", uuid.UUID(str(slot_id)))
    return row["held"], row["booked"]


async def events_of(db: asyncpg.Connection, appointment_id: object) -> list[str]:
    """Every outbox event about one appointment, in the order written."""
    rows = await db.fetch(
        "SELECT event_type FROM outbox WHERE envelope->'payload'->>'appointment_id' = $1 ORDER BY created_at, seq",
        str(appointment_id),
    )
    return [row["event_type"] for row in rows]


async def trail(db: asyncpg.Connection, appointment_id: object) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT from_status, to_status, actor_id, actor_role, reason FROM appointment_transitions "
        "WHERE appointment_id = $1 ORDER BY id",
        uuid.UUID(str(appointment_id)),
    )
    return [tuple(row) for row in rows]


async def held(api: Any, catalog: Any, who: Any, days: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    slot = await api.slot(catalog, api.future(days=days))
    reply = await api.hold(slot["id"], who)
    assert reply.status == 201, reply.body
    return slot, reply.body


async def confirm(api: Any, appointment_id: object, who: Any) -> Any:
    return await api.call("POST", f"/v1/appointments/{appointment_id}/confirm", who)


async def database_passes(db: asyncpg.Connection, instant: Any) -> None:
    """Wait until the database clock (the one deadlines use) is past `instant`."""
    await wait_for(lambda: db.fetchval("SELECT clock_timestamp() > $1", instant), timeout=10,
                   what=f"the database clock to pass {instant}")


async def test_confirm_turns_the_held_seat_into_a_booked_one(
    api: Any, catalog: Any, db: asyncpg.Connection, stack: IsolatedStack
) -> None:
    client = api.client()
    slot, hold = await held(api, catalog, client)
    assert await seats(db, slot["id"]) == (1, 0)

    reply = await confirm(api, hold["id"], client)

    assert reply.status == 200, reply.body
    assert {key: reply.body[key] for key in ("id", "status", "slot_id", "client_id")} == {
        "id": hold["id"], "status": "confirmed", "slot_id": slot["id"], "client_id": str(client.user_id)}
    assert reply.body["updated_at"] > hold["updated_at"]
    assert await seats(db, slot["id"]) == (0, 1)
    assert await events_of(db, hold["id"]) == ["appointment.locked", "appointment.confirmed"]
    assert (await trail(db, hold["id"]))[-1] == ("locked", "confirmed", client.user_id, "client", None)
    assert await db.fetchval("SELECT lock_token FROM appointments WHERE id = $1", uuid.UUID(hold["id"])) is None


async def test_confirm_frees_the_redis_lock_of_the_hold(
    api: Any, catalog: Any, db: asyncpg.Connection, stack: IsolatedStack
) -> None:
    client = api.client()
    slot, hold = await held(api, catalog, client)
    redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        pattern = f"{stack.namespace}*slot:{slot['id']}:lock"
        assert [key async for key in redis.scan_iter(match=pattern)], "the hold took the slot's lock"
        assert (await confirm(api, hold["id"], client)).status == 200
        assert [key async for key in redis.scan_iter(match=pattern)] == []
    finally:
        await redis.aclose()


async def test_confirming_twice_is_409_invalid_transition_and_writes_nothing(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    client = api.client()
    slot, hold = await held(api, catalog, client)
    assert (await confirm(api, hold["id"], client)).status == 200
    events, audit = await events_of(db, hold["id"]), await trail(db, hold["id"])

    again = await confirm(api, hold["id"], client)

    assert (again.status, again.code) == (409, "invalid_transition")
    assert again.content_type == "application/problem+json"
    assert "confirmed" in again.body["detail"]
    assert (await events_of(db, hold["id"]), await trail(db, hold["id"])) == (events, audit)
    assert await seats(db, slot["id"]) == (0, 1)


@pytest.mark.parametrize("role", ["other-client", "provider", "its-provider", "admin"])
async def test_only_its_client_may_confirm_everyone_else_sees_404(
    api: Any, catalog: Any, db: asyncpg.Connection, role: str
) -> None:
    slot, hold = await held(api, catalog, api.client())
    caller = {
        "other-client": api.client(), "provider": api.who("provider"), "admin": api.admin(),
        "its-provider": api.who("provider", catalog.provider_user),
    }[role]

    reply = await confirm(api, hold["id"], caller)

    assert (reply.status, reply.code) == (404, "not_found")
    assert await seats(db, slot["id"]) == (1, 0)
    assert await events_of(db, hold["id"]) == ["appointment.locked"]


@pytest.mark.parametrize("appointment_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_confirming_what_does_not_exist_is_404(api: Any, appointment_id: str) -> None:
    reply = await confirm(api, appointment_id, api.client())
    assert (reply.status, reply.code) == (404, "not_found")


async def test_confirming_without_identity_is_401(api: Any, catalog: Any) -> None:
    _, hold = await held(api, catalog, api.client())
    reply = await api.call("POST", f"/v1/appointments/{hold['id']}/confirm", None)
    assert (reply.status, reply.code) == (401, "unauthorized")


async def test_an_idempotent_confirm_replays_the_first_answer(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    client = api.client()
    slot, hold = await held(api, catalog, client)
    headers = client.headers | {"Idempotency-Key": str(uuid.uuid4())}

    async def post() -> tuple[int, Any, str | None]:
        async with api.http.post(f"/v1/appointments/{hold['id']}/confirm", headers=headers) as response:
            return response.status, await response.json(), response.headers.get("Idempotent-Replayed")

    first, second = await post(), await post()
    plain = await confirm(api, hold["id"], client)  # without the key it is a new request, refused by the state

    assert (first[0], first[2]) == (200, None)
    assert second == (200, first[1], "true")
    assert first[1]["status"] == "confirmed"
    assert (plain.status, plain.code) == (409, "invalid_transition")
    assert (await events_of(db, hold["id"])).count("appointment.confirmed") == 1
    assert await seats(db, slot["id"]) == (0, 1)


async def test_confirm_just_before_the_deadline_succeeds(
    extra_booking: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    short = await extra_booking(hold_ttl_seconds=SHORT_TTL)
    client = short.client()
    slot, hold = await held(short, catalog, client)
    deadline = await db.fetchval("SELECT hold_expires_at FROM appointments WHERE id = $1", uuid.UUID(hold["id"]))
    await database_passes(db, deadline - EPSILON)  # TTL - ε

    reply = await confirm(short, hold["id"], client)

    assert reply.status == 200, reply.body
    assert reply.body["status"] == "confirmed"
    assert await seats(db, slot["id"]) == (0, 1)


async def test_confirm_just_after_the_deadline_is_410_and_the_hold_is_gone(
    extra_booking: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    short = await extra_booking(hold_ttl_seconds=SHORT_TTL)
    client = short.client()
    slot, hold = await held(short, catalog, client)
    deadline = await db.fetchval("SELECT hold_expires_at FROM appointments WHERE id = $1", uuid.UUID(hold["id"]))
    await database_passes(db, deadline + EPSILON)  # TTL + ε

    reply = await confirm(short, hold["id"], client)

    assert (reply.status, reply.code) == (410, "hold_expired")
    assert reply.content_type == "application/problem+json"
    # Expired for good, whether this confirm or the sweeper got there first: the seat is free again.
    assert await db.fetchval("SELECT status FROM appointments WHERE id = $1", uuid.UUID(hold["id"])) == "expired"
    assert await seats(db, slot["id"]) == (0, 0)
    assert (await events_of(db, hold["id"])).count("appointment.expired") == 1
    assert "appointment.confirmed" not in await events_of(db, hold["id"])
    released = await db.fetchval(
        "SELECT envelope->'payload' FROM outbox WHERE event_type = 'slot.released' "
        "AND envelope->'payload'->>'appointment_id' = $1",
        hold["id"],
    )
    assert orjson.loads(released)["slot_id"] == slot["id"]
    again = await confirm(short, hold["id"], client)
    assert (again.status, again.code) == (410, "hold_expired")


async def test_a_holder_whose_hold_expired_cannot_confirm_after_another_client_took_the_slot(
    extra_booking: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    short = await extra_booking(hold_ttl_seconds=SHORT_TTL)
    first, second = short.client(), short.client()
    slot, hold = await held(short, catalog, first)
    deadline = await db.fetchval("SELECT hold_expires_at FROM appointments WHERE id = $1", uuid.UUID(hold["id"]))
    await database_passes(db, deadline)

    async def second_holds() -> Any:
        reply = await short.hold(slot["id"], second)  # a refused hold writes nothing, so trying again is harmless
        return reply if reply.status == 201 else None

    taken = await wait_for(second_holds, timeout=10, what="the second client's hold once the first expired")
    assert (await confirm(short, taken.body["id"], second)).status == 200

    late = await confirm(short, hold["id"], first)

    assert (late.status, late.code) == (410, "hold_expired")
    assert await seats(db, slot["id"]) == (0, 1)
    assert await db.fetchval(
        "SELECT count(*) FROM appointments WHERE slot_id = $1 AND status = 'confirmed'", uuid.UUID(slot["id"])) == 1
