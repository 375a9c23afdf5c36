"""I1 and I2 under storms: 500 concurrent holds on one slot and 500 concurrent instant bookings over ten slots, with
the Redis lock and with Redis unreachable (database-only mode). Exactly the right number win, every win is in the
database, no slot holds more than its capacity, no two live slots of a provider overlap, and with Redis up the
contested slot sees one write and the losers share one suggestions query."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from prometheus_client import REGISTRY

from booking import invariants
from smartslot_common.http.identity import ROLE_HEADER, USER_ID_HEADER
from smartslot_common.testing.identity import signing_middleware
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration

RACERS = 500
SLOTS = 10
LOSSES = {(409, "slot_held"), (409, "slot_unavailable")}
MAX_WRITES_PER_CONTESTED_SLOT = 3


@pytest.fixture
async def unreachable_redis(extra_booking: Any) -> Any:
    """A booking app whose Redis (lock and cache) is a port nobody listens on."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    return await extra_booking(redis_url=closed, lock_redis_urls=[closed])


@pytest.fixture
async def storm() -> AsyncIterator[Any]:
    """Fire many requests at once through one session whose connector does not queue them."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=RACERS + 10),
                                    middlewares=(signing_middleware(),))

    async def fire(api: Any, path: str, bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        async def one(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            headers = {USER_ID_HEADER: str(uuid.uuid4()), ROLE_HEADER: "client", "Content-Type": "application/json"}
            async with session.post(api.http.make_url(path), data=orjson.dumps(body), headers=headers) as response:
                return response.status, orjson.loads(await response.read())

        return await asyncio.gather(*(one(body) for body in bodies))

    try:
        yield fire
    finally:
        await session.close()


def outcomes(replies: list[tuple[int, dict[str, Any]]]) -> Counter[tuple[int, str | None]]:
    return Counter((status, body.get("code")) for status, body in replies)


def database_lookups() -> float:
    return REGISTRY.get_sample_value("smartslot_booking_suggestion_lookups_total", {"source": "database"}) or 0.0


async def assert_invariants(db: asyncpg.Connection) -> None:
    """I1 over every slot of the run: booking's checker and live appointments against seats."""
    counts = await invariants.check_double_booking(db)
    assert set(counts.values()) == {0}, counts
    assert await invariants.live_over_capacity(db) == 0


async def assert_wins_stored(db: asyncpg.Connection, replies: list[tuple[int, dict[str, Any]]], status: str) -> None:
    """I2: every 201 names an appointment that exists as answered."""
    won = [uuid.UUID(body["id"]) for code, body in replies if code == 201]
    rows = await db.fetch("SELECT id, status FROM booking.appointments WHERE id = ANY($1::uuid[])", won)
    assert {row["id"] for row in rows} == set(won)
    assert {row["status"] for row in rows} == {status}


async def one_slot_storm(api: Any, db: asyncpg.Connection, fire: Any) -> tuple[dict[str, Any], Counter[Any], int]:
    """500 holds on one fresh slot: (the slot, the outcomes, committed writes to the slot row)."""
    slot = await api.slot(await api.catalog(), api.future(days=20))
    version_before = await db.fetchval("SELECT version FROM booking.slots WHERE id = $1", uuid.UUID(slot["id"]))
    replies = await fire(api, "/v1/holds", [{"slot_id": slot["id"]}] * RACERS)
    row = await db.fetchrow(
        "SELECT version, held, booked, (SELECT count(*) FROM booking.appointments WHERE slot_id = s.id) AS rows"
        " FROM booking.slots s WHERE id = $1", uuid.UUID(slot["id"]))
    assert (row["rows"], row["held"], row["booked"]) == (1, 1, 0)
    await assert_wins_stored(db, replies, "locked")
    await assert_invariants(db)
    return slot, outcomes(replies), row["version"] - version_before


async def spread_storm(api: Any, db: asyncpg.Connection, fire: Any) -> Counter[Any]:
    """500 instant bookings, 50 clients on each of ten fresh slots."""
    catalog = await api.catalog()
    slots = [await api.slot(catalog, api.future(days=21, minutes=60 * n)) for n in range(SLOTS)]
    bodies = [{"slot_id": slot["id"]} for slot in slots for _ in range(RACERS // SLOTS)]
    replies = await fire(api, "/v1/appointments", bodies)
    won = Counter(body["slot_id"] for status, body in replies if status == 201)
    assert won == {slot["id"]: 1 for slot in slots}, "exactly one booking per slot"
    booked = await db.fetch("SELECT held, booked FROM booking.slots WHERE id = ANY($1::uuid[])",
                            [uuid.UUID(slot["id"]) for slot in slots])
    assert {(row["held"], row["booked"]) for row in booked} == {(0, 1)}
    count = await db.fetchval("SELECT count(*) FROM booking.appointments WHERE slot_id = ANY($1::uuid[])",
                              [uuid.UUID(slot["id"]) for slot in slots])
    assert count == SLOTS
    await assert_wins_stored(db, replies, "confirmed")
    await assert_invariants(db)
    return outcomes(replies)


async def test_500_holds_on_one_slot_with_redis_one_wins_one_write_one_suggestions_query(
    api: Any, db: asyncpg.Connection, storm: Any
) -> None:
    lookups_before = database_lookups()
    _, seen, writes = await one_slot_storm(api, db, storm)
    assert seen[(201, None)] == 1, seen
    assert set(seen) - {(201, None)} <= LOSSES, seen
    assert seen[(409, "slot_held")] == RACERS - 1, "with Redis up no loser reaches PostgreSQL's compare-and-set"
    assert writes == 1 <= MAX_WRITES_PER_CONTESTED_SLOT
    lookups = database_lookups() - lookups_before
    assert 1 <= lookups <= 2, f"{lookups} suggestion queries for {RACERS - 1} losers"
    print(f"\nstorm with Redis: {dict(seen)}; slot writes {writes}; suggestion queries {lookups:.0f}")


async def test_500_holds_on_one_slot_without_redis_the_database_alone_lets_one_win(
    unreachable_redis: Any, db: asyncpg.Connection, storm: Any
) -> None:
    _, seen, writes = await one_slot_storm(unreachable_redis, db, storm)
    assert seen == {(201, None): 1, (409, "slot_held"): RACERS - 1}, "the one seat is held by the winner"
    assert writes == 1, "losers' compare-and-set wrote nothing"
    print(f"\nstorm without Redis: {dict(seen)}; slot writes {writes}")


async def test_500_instant_bookings_over_ten_slots_with_redis_exactly_ten(
    api: Any, db: asyncpg.Connection, storm: Any
) -> None:
    seen = await spread_storm(api, db, storm)
    assert seen[(201, None)] == SLOTS
    assert set(seen) - {(201, None)} <= LOSSES, seen


async def test_500_instant_bookings_over_ten_slots_without_redis_exactly_ten(
    unreachable_redis: Any, db: asyncpg.Connection, storm: Any
) -> None:
    seen = await spread_storm(unreachable_redis, db, storm)
    assert seen == {(201, None): SLOTS, (409, "slot_unavailable"): RACERS - SLOTS}


async def test_a_storm_over_every_provider_at_one_start_books_each_once(
    api: Any, db: asyncpg.Connection, storm: Any
) -> None:
    catalog = await api.catalog()
    providers = [catalog.provider_id]
    for n in range(3):
        providers.append((await api.created("/v1/providers", {
            "user_id": str(uuid.uuid4()), "clinic_id": catalog.clinic_id, "display_name": f"Dr. {n}",
            "service_ids": [catalog.service_id]}))["id"])
    starts = api.future(days=22)
    for provider in providers:
        await api.created(f"/v1/providers/{provider}/slots", {
            "service_id": catalog.service_id, "starts_at": starts.isoformat()})
    body = {"service_id": catalog.service_id, "starts_at": starts.isoformat()}

    replies = await storm(api, "/v1/appointments", [body] * 100)

    seen = outcomes(replies)
    assert seen[(201, None)] == len(providers), seen
    assert set(seen) - {(201, None)} <= {(409, "no_provider_available")}, seen
    assert {body["provider_id"] for status, body in replies if status == 201} == set(providers)
    await assert_wins_stored(db, replies, "confirmed")
    await assert_invariants(db)


async def test_a_roomy_slot_fills_exactly_to_capacity_under_storms(
    api: Any, db: asyncpg.Connection, storm: Any
) -> None:
    slot = await api.slot(await api.catalog(), api.future(days=23), capacity=5)
    slot_id = uuid.UUID(slot["id"])
    # Waves: the gate lets one claim through at a time and the losers of a wave hear 409 and may try again.
    for _ in range(20):
        await storm(api, "/v1/holds", [{"slot_id": slot["id"]}] * 50)
        if await db.fetchval("SELECT held FROM booking.slots WHERE id = $1", slot_id) == 5:
            break
    last = outcomes(await storm(api, "/v1/holds", [{"slot_id": slot["id"]}] * 50))
    assert set(last) <= LOSSES, last
    assert await db.fetchval("SELECT held FROM booking.slots WHERE id = $1", slot_id) == 5
    await assert_invariants(db)
