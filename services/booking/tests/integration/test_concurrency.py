"""I1 under contention: 200 clients race for one slot, with the Redis lock and in database-only mode; instant bookings
race without Redis at all, taking turns in the process."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from booking import invariants
from smartslot_common.http.problems import REFUSAL_SECONDS_HEADER
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration

RACERS = 200


async def race(api: Any, slot_id: str, racers: int = RACERS) -> Counter[tuple[int, str | None]]:
    replies = await asyncio.gather(*(api.hold(slot_id, api.client()) for _ in range(racers)))
    return Counter((reply.status, reply.code) for reply in replies)


async def instant_race(api: Any, slot_id: str, racers: int = RACERS) -> Counter[tuple[int, str | None]]:
    replies = await asyncio.gather(*(
        api.call("POST", "/v1/appointments", api.client(), {"slot_id": slot_id}) for _ in range(racers)))
    return Counter((reply.status, reply.code) for reply in replies)


async def rows_for(
    db: asyncpg.Connection, slot_id: str, event: str = "appointment.locked"
) -> tuple[int, int, int, int]:
    """(appointments, `event` events, held, booked) of a slot."""
    slot = uuid.UUID(slot_id)
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM appointments WHERE slot_id = $1) AS appointments,"
        " (SELECT count(*) FROM outbox WHERE event_type = $2"
        "  AND envelope->'payload'->>'slot_id' = $1::text) AS events, held, booked FROM slots WHERE id = $1",
        slot, event,
    )
    return row["appointments"], row["events"], row["held"], row["booked"]


async def assert_no_double_booking(db: asyncpg.Connection) -> None:
    """I1 over every slot of the run: booking's checker (counters within capacity and in step with the appointments,
    no two live slots of a provider overlap) and live appointments against seats."""
    counts = await invariants.check_double_booking(db)
    assert set(counts.values()) == {0}, counts
    assert await invariants.live_over_capacity(db) == 0


async def test_two_hundred_clients_one_slot_exactly_one_hold(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=10))
    outcomes = await race(api, slot["id"])
    assert outcomes[(201, None)] == 1, outcomes
    assert sum(outcomes.values()) == RACERS
    assert set(outcomes) <= {(201, None), (409, "slot_held"), (409, "slot_unavailable")}, outcomes
    assert outcomes[(409, "slot_held")] > 0, "the Redis lock turned losers away"
    assert await rows_for(db, slot["id"]) == (1, 1, 1, 0)
    await assert_no_double_booking(db)


def lock_fallbacks() -> float:
    return REGISTRY.get_sample_value("smartslot_booking_lock_fallbacks_total") or 0.0


def refused_from_memory() -> float:
    return REGISTRY.get_sample_value("smartslot_booking_conflicts_total", {"stage": "memory"}) or 0.0


async def test_with_redis_unreachable_the_database_alone_lets_exactly_one_win(
    extra_booking: Any, db: asyncpg.Connection
) -> None:
    api = await extra_booking(redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    fallbacks_before, remembered_before = lock_fallbacks(), refused_from_memory()
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=10))
    outcomes = await race(api, slot["id"])
    assert outcomes == Counter({(201, None): 1, (409, "slot_held"): RACERS - 1}), "the one seat is held by the winner"
    assert await rows_for(db, slot["id"]) == (1, 1, 1, 0)
    fallbacks, remembered = lock_fallbacks() - fallbacks_before, refused_from_memory() - remembered_before
    # A request that reached the database found Redis away; once one found the slot full, the rest were refused from
    # this process's memory of it, without asking Redis or the database.
    assert fallbacks + remembered == RACERS, "every request went on in database-only mode or was refused from memory"
    assert fallbacks >= 1
    await assert_no_double_booking(db)


async def test_two_hundred_instant_bookings_of_one_slot_exactly_one_without_redis_or_a_second_write(
    api: Any, db: asyncpg.Connection
) -> None:
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=10))
    remembered_before = refused_from_memory()
    outcomes = await instant_race(api, slot["id"])
    assert outcomes == Counter({(201, None): 1, (409, "slot_unavailable"): RACERS - 1}), outcomes
    assert await rows_for(db, slot["id"], "appointment.confirmed") == (1, 1, 0, 1)
    # The losers waited for the claim in flight in this process, then were refused from its memory of the slot.
    assert refused_from_memory() - remembered_before == RACERS - 1
    await assert_no_double_booking(db)


async def test_a_refusal_from_memory_tells_the_gateway_how_long_every_claim_gets_it(
    api: Any, db: asyncpg.Connection
) -> None:
    """The 409 a claim gets from this process's memory of the slot says for how long (at most the memory's second)
    every public claim of the slot gets that same answer; a refusal for this client alone says nothing of the kind."""
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=10))
    winner = api.client()
    won = await api.call("POST", "/v1/appointments", winner, {"slot_id": slot["id"]})
    assert won.status == 201, won.body
    assert REFUSAL_SECONDS_HEADER not in won.headers

    lost = await api.call("POST", "/v1/appointments", api.client(), {"slot_id": slot["id"]})
    assert (lost.status, lost.code) == (409, "slot_unavailable"), lost.body
    assert 0 < float(lost.headers[REFUSAL_SECONDS_HEADER]) <= 1.0
    held = await api.hold(slot["id"], api.client())  # a hold of the full slot: the same answer, from memory
    assert (held.status, held.code, held.body["detail"]) == (409, "slot_unavailable", lost.body["detail"])
    assert REFUSAL_SECONDS_HEADER in held.headers

    roomy = await api.slot(catalog, api.future(days=11), capacity=2)
    assert (await api.hold(roomy["id"], winner)).status == 201
    second = await api.hold(roomy["id"], winner)  # a seat left, but not for them: their refusal alone
    assert (second.status, second.code, second.body["detail"]) == (
        409, "slot_unavailable", "You already have a seat in this slot."), second.body
    assert REFUSAL_SECONDS_HEADER not in second.headers
    assert await rows_for(db, slot["id"], "appointment.confirmed") == (1, 1, 0, 1)


async def test_instant_bookings_from_two_booking_processes_still_book_one_slot_once(
    api: Any, extra_booking: Any, db: asyncpg.Connection
) -> None:
    """Turns are taken per process: between two processes PostgreSQL's compare-and-set alone decides."""
    other = await extra_booking()  # its own turns and memory, as a second booking process has
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=10))
    here, there = await asyncio.gather(instant_race(api, slot["id"], 100), instant_race(other, slot["id"], 100))
    outcomes = here + there
    assert outcomes[(201, None)] == 1, outcomes
    assert set(outcomes) <= {(201, None), (409, "slot_unavailable")}, outcomes
    assert sum(outcomes.values()) == 200
    assert await rows_for(db, slot["id"], "appointment.confirmed") == (1, 1, 0, 1)
    await assert_no_double_booking(db)


async def test_instant_bookings_of_three_seats_get_exactly_three_in_one_wave(
    extra_booking: Any, db: asyncpg.Connection
) -> None:
    """Claims on a slot with seats left wait their turn instead of being turned away as held; Redis is not needed
    (it is unreachable here) and never asked (no fallback counted)."""
    api = await extra_booking(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    fallbacks_before = lock_fallbacks()
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=10), capacity=3)
    outcomes = await instant_race(api, slot["id"], racers=40)
    assert outcomes == Counter({(201, None): 3, (409, "slot_unavailable"): 37}), outcomes
    assert await rows_for(db, slot["id"], "appointment.confirmed") == (3, 3, 0, 3)
    assert lock_fallbacks() == fallbacks_before
    await assert_no_double_booking(db)


async def test_a_slot_with_three_seats_never_takes_a_fourth(extra_booking: Any, db: asyncpg.Connection) -> None:
    api = await extra_booking(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=10), capacity=3)
    for _ in range(5):  # waves until the seats are gone: compare-and-set losers may retry
        await race(api, slot["id"], racers=40)
    appointments, events, held, booked = await rows_for(db, slot["id"])
    assert held == appointments == events == 3
    assert booked == 0
    await assert_no_double_booking(db)


async def test_one_client_racing_for_many_slots_stays_within_the_hold_quota(
    api: Any, db: asyncpg.Connection
) -> None:
    catalog = await api.catalog()
    slots = [await api.slot(catalog, api.future(days=12, minutes=60 * n)) for n in range(10)]
    client = api.client()
    replies = await asyncio.gather(*(api.hold(slot["id"], client) for slot in slots))
    outcomes = Counter((reply.status, reply.code) for reply in replies)
    assert outcomes == Counter({(201, None): 3, (429, "hold_quota"): 7})
    assert await db.fetchval("SELECT count(*) FROM appointments WHERE client_id = $1", client.user_id) == 3


async def test_overlapping_slots_racing_in_leave_one(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    starts = api.future(days=11)
    replies = await asyncio.gather(*(
        api.call("POST", f"/v1/providers/{catalog.provider_id}/slots", api.admin(), {
            "service_id": catalog.service_id, "starts_at": starts.replace(minute=minute).isoformat()})
        for minute in range(0, 50, 2)
    ))
    statuses = Counter((reply.status, reply.code) for reply in replies)
    assert statuses[(201, None)] >= 1
    assert set(statuses) <= {(201, None), (409, "slot_overlap")}, statuses
    await assert_no_double_booking(db)
