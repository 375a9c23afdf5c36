"""Idempotency-Key on the calls that get a seat: one booking however many times it is sent at once, identical
replays, another body refused, keys scoped to the caller, and a conflict answer replayed as it was given."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.integration

SENDERS = 50


async def send(api: Any, path: str, who: Any, body: dict[str, Any], key: str) -> tuple[int, Any, str | None]:
    """(status, body, Idempotent-Replayed header) of one POST with an Idempotency-Key."""
    answer = await api.call("POST", path, who, body, headers={"Idempotency-Key": key})
    return answer.status, answer.body, answer.headers.get("Idempotent-Replayed")


async def bookings_of(db: asyncpg.Connection, client: Any) -> int:
    return await db.fetchval("SELECT count(*) FROM booking.appointments WHERE client_id = $1", client.user_id)


async def test_fifty_concurrent_bookings_with_one_key_make_one_appointment(api: Any, db: asyncpg.Connection) -> None:
    slot = await api.slot(await api.catalog(), api.future(days=30), capacity=SENDERS)
    client, key, body = api.client(), secrets.token_hex(8), {"slot_id": slot["id"]}

    replies = await asyncio.gather(*(send(api, "/v1/appointments", client, body, key) for _ in range(SENDERS)))

    assert await bookings_of(db, client) == 1
    created = [reply for reply in replies if reply[0] == 201]
    assert created, "someone got the booking"
    first = next(reply[1] for reply in created if reply[2] is None)
    assert first["status"] == "confirmed"
    assert all(reply[1] == first for reply in created), "every 201 is the booking or an identical replay"
    assert sum(reply[2] is None for reply in created) == 1, "exactly one answer was not a replay"
    others = Counter((status, body.get("code")) for status, body, _ in replies if status != 201)
    assert set(others) <= {(409, "idempotency_in_flight")}, others
    later = await send(api, "/v1/appointments", client, body, key)
    assert later == (201, first, "true")
    assert await db.fetchval("SELECT held + booked FROM booking.slots WHERE id = $1", uuid.UUID(slot["id"])) == 1


async def test_the_same_key_with_another_body_is_422(api: Any) -> None:
    catalog = await api.catalog()
    slots = [await api.slot(catalog, api.future(days=31, minutes=60 * n)) for n in range(2)]
    client, key = api.client(), secrets.token_hex(8)
    assert (await send(api, "/v1/appointments", client, {"slot_id": slots[0]["id"]}, key))[0] == 201
    status, body, _ = await send(api, "/v1/appointments", client, {"slot_id": slots[1]["id"]}, key)
    assert (status, body["code"]) == (422, "idempotency_mismatch")


async def test_keys_are_per_caller(api: Any, db: asyncpg.Connection) -> None:
    slot = await api.slot(await api.catalog(), api.future(days=32), capacity=2)
    key, body = secrets.token_hex(8), {"slot_id": slot["id"]}
    first_client, second_client = api.client(), api.client()
    first = await send(api, "/v1/appointments", first_client, body, key)
    second = await send(api, "/v1/appointments", second_client, body, key)
    assert (first[0], second[0]) == (201, 201)
    assert first[1]["id"] != second[1]["id"]
    assert second[2] is None, "another caller's key is not a replay"
    assert (await bookings_of(db, first_client), await bookings_of(db, second_client)) == (1, 1)


async def test_a_conflict_is_replayed_with_its_suggestions(api: Any) -> None:
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=33))
    await api.slot(catalog, api.future(days=33, minutes=60))
    assert (await api.hold(slot["id"], api.client())).status == 201
    client, key = api.client(), secrets.token_hex(8)
    first = await send(api, "/v1/holds", client, {"slot_id": slot["id"]}, key)
    assert (first[0], first[1]["code"], len(first[1]["suggestions"])) == (409, "slot_held", 1)
    again = await send(api, "/v1/holds", client, {"slot_id": slot["id"]}, key)
    assert again == (409, first[1], "true")


async def test_a_hold_by_service_and_start_replays_too(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    starts = api.future(days=34)
    await api.slot(catalog, starts)
    client, key = api.client(), secrets.token_hex(8)
    body = {"service_id": catalog.service_id, "starts_at": starts.isoformat()}
    first = await send(api, "/v1/holds", client, body, key)
    assert first[0] == 201, first
    assert first[1]["assignment"] == "auto"
    assert await send(api, "/v1/holds", client, body, key) == (201, first[1], "true")
    assert await bookings_of(db, client) == 1
