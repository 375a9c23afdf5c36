"""The lifecycle under contention: racing moves onto one slot, racing confirmations, a confirm racing a cancel. The
counters always agree with the live appointments (I1), with the Redis lock and in database-only mode."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration

MOVERS = 12


async def book(api: Any, slot_id: object, who: Any) -> dict[str, Any]:
    held = await api.hold(slot_id, who)
    assert held.status == 201, held.body
    reply = await api.call("POST", f"/v1/appointments/{held.body['id']}/confirm", who)
    assert reply.status == 200, reply.body
    return reply.body


async def counters_agree(db: asyncpg.Connection, *slot_ids: object) -> None:
    """Each slot's held/booked counters equal its live appointments, within capacity."""
    rows = await db.fetch(
        "SELECT s.id, s.capacity, s.held, s.booked, "
        " count(a.id) FILTER (WHERE a.status = 'locked') AS locked, "
        " count(a.id) FILTER (WHERE a.status = 'confirmed') AS confirmed "
        "FROM slots s LEFT JOIN appointments a ON a.slot_id = s.id WHERE s.id = ANY($1::uuid[]) "
        "GROUP BY s.id",
        [uuid.UUID(str(slot_id)) for slot_id in slot_ids],
    )
    for row in rows:
        assert (row["held"], row["booked"]) == (row["locked"], row["confirmed"]), dict(row)
        assert row["held"] + row["booked"] <= row["capacity"]


async def movers_race(api: Any) -> tuple[Counter[tuple[int, str | None]], list[str], str]:
    catalog = await api.catalog()
    base = (datetime.now(UTC) + timedelta(days=30)).replace(second=0, microsecond=0)
    target = await api.slot(catalog, base)
    olds = [await api.slot(catalog, base + timedelta(hours=hour + 1)) for hour in range(MOVERS)]
    clients = [api.client() for _ in olds]
    appointments = [await book(api, old["id"], client) for old, client in zip(olds, clients, strict=True)]
    replies = await asyncio.gather(*(
        api.call("POST", f"/v1/appointments/{appointment['id']}/reschedule", client, {"slot_id": target["id"]})
        for appointment, client in zip(appointments, clients, strict=True)
    ))
    return Counter((reply.status, reply.code) for reply in replies), [old["id"] for old in olds], target["id"]


async def test_racing_moves_onto_one_slot_leave_exactly_one_there(api: Any, db: asyncpg.Connection) -> None:
    outcomes, olds, target = await movers_race(api)

    assert outcomes[(200, None)] == 1, outcomes
    assert set(outcomes) <= {(200, None), (409, "slot_held"), (409, "slot_unavailable")}, outcomes
    await counters_agree(db, target, *olds)
    assert await db.fetchval("SELECT booked FROM slots WHERE id = $1", uuid.UUID(target)) == 1


async def test_in_database_only_mode_the_compare_and_set_alone_lets_one_move(
    extra_booking: Any, db: asyncpg.Connection
) -> None:
    api = await extra_booking(redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there

    outcomes, olds, target = await movers_race(api)

    assert outcomes == Counter({(200, None): 1, (409, "slot_unavailable"): MOVERS - 1}), outcomes
    await counters_agree(db, target, *olds)


async def test_racing_confirmations_of_one_hold_confirm_it_once(api: Any, db: asyncpg.Connection) -> None:
    catalog, client = await api.catalog(), api.client()
    slot = await api.slot(catalog, api.future(days=31))
    held = (await api.hold(slot["id"], client)).body

    replies = await asyncio.gather(*(
        api.call("POST", f"/v1/appointments/{held['id']}/confirm", client) for _ in range(20)))

    outcomes = Counter((reply.status, reply.code) for reply in replies)
    assert outcomes == Counter({(200, None): 1, (409, "invalid_transition"): 19}), outcomes
    assert await db.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'appointment.confirmed' "
        "AND envelope->'payload'->>'appointment_id' = $1", held["id"]) == 1
    await counters_agree(db, slot["id"])


async def test_a_confirm_racing_a_provider_cancel_ends_consistent(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    provider = api.who("provider", catalog.provider_user)
    for day in range(5):
        client = api.client()
        slot = await api.slot(catalog, api.future(days=40 + day))
        held = (await api.hold(slot["id"], client)).body
        confirm, cancel = await asyncio.gather(
            api.call("POST", f"/v1/appointments/{held['id']}/confirm", client),
            api.call("POST", f"/v1/appointments/{held['id']}/cancel", provider),
        )
        assert cancel.status == 200, cancel.body  # a hold or a booking: the provider may cancel either
        assert (confirm.status, confirm.code) in {(200, None), (409, "invalid_transition")}
        assert cancel.body["status"] == "cancelled"
        await counters_agree(db, slot["id"])
        assert await db.fetchval("SELECT held + booked FROM slots WHERE id = $1", uuid.UUID(slot["id"])) == 0
