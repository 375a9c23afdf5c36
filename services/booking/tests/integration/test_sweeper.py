"""The hold-expiry sweeper on the real database and Redis: a hold outlives its deadline by at most one sweep period
(I4, measured on the database clock), its seat and Redis lock are given back, the events are written, and sweepers
running side by side expire every hold exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from prometheus_client import REGISTRY

from booking.app_keys import LOCK, POOL, REDIS
from booking.service_layer import sweeper
from booking.service_layer.unit_of_work import PostgresUnitOfWork
from smartslot_common.db import create_pool
from smartslot_common.testing import IsolatedStack, wait_for

pytestmark = pytest.mark.integration

SWEEP_INTERVAL = 1.0  # the default period of every booking app in this run
SLACK = timedelta(seconds=0.5)  # a busy machine's scheduling delay on top of one period


async def status_of(db: asyncpg.Connection, appointment_id: str) -> str:
    return await db.fetchval("SELECT status FROM appointments WHERE id = $1", uuid.UUID(appointment_id))


async def rewind_deadlines(db: asyncpg.Connection, provider_id: str) -> None:
    """Make the provider's holds due now: waiting out a five-minute TTL is not a test."""
    await db.execute("UPDATE appointments SET hold_expires_at = clock_timestamp() - interval '1 second'"
                     " WHERE provider_id = $1 AND status = 'locked'", uuid.UUID(provider_id))


async def holds(api: Any, catalog: Any, count: int) -> list[dict[str, Any]]:
    """`count` holds of `count` clients on as many back-to-back slots."""
    first = api.future(days=10)
    made = []
    for n in range(count):
        slot = await api.slot(catalog, first + n * catalog.duration)
        reply = await api.hold(slot["id"], api.client())
        assert reply.status == 201, reply.body
        made.append(reply.body)
    return made


async def payloads(db: asyncpg.Connection, event_type: str, key: str, value: str) -> list[dict[str, Any]]:
    raw = await db.fetchval("SELECT array_agg(envelope->'payload' ORDER BY seq) FROM outbox"
                            " WHERE event_type = $1 AND envelope->'payload'->>$2 = $3", event_type, key, value)
    return [orjson.loads(item) for item in raw or []]


@pytest.fixture
async def second_pool(stack: IsolatedStack) -> AsyncIterator[asyncpg.Pool]:
    """The pool of a second booking process."""
    pool = await create_pool(stack.database_url, "booking", min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_one_second_hold_expires_within_one_sweep_period_of_its_deadline(
    api: Any, extra_booking: Any, db: asyncpg.Connection
) -> None:
    short = await extra_booking(hold_ttl_seconds=1, sweep_interval_seconds=SWEEP_INTERVAL)
    catalog = await short.catalog()
    slot = await short.slot(catalog, short.future(days=2))
    hold = await short.hold(slot["id"], short.client())
    assert hold.status == 201, hold.body

    await wait_for(lambda: _is(db, hold.body["id"], "expired"), timeout=1 + SWEEP_INTERVAL + 3,
                   what="the sweeper to expire the hold")
    row = await db.fetchrow("SELECT updated_at - hold_expires_at AS late, status FROM appointments WHERE id = $1",
                            uuid.UUID(hold.body["id"]))
    assert timedelta(0) <= row["late"] < timedelta(seconds=SWEEP_INTERVAL) + SLACK, "I4: deadlines hold"
    counters = await db.fetchrow("SELECT held, booked, version FROM slots WHERE id = $1", uuid.UUID(slot["id"]))
    assert (counters["held"], counters["booked"]) == (0, 0)
    again = await short.hold(slot["id"], short.client())
    assert again.status == 201, "the seat is free for the next client"


async def _is(db: asyncpg.Connection, appointment_id: str, status: str) -> bool:
    return await status_of(db, appointment_id) == status


async def test_an_expired_hold_leaves_an_audit_row_events_and_no_redis_lock(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    [hold] = await holds(api, catalog, 1)
    lock_key = api.http.app[LOCK].key(hold["slot_id"])
    assert await api.http.app[REDIS].exists(lock_key)
    await rewind_deadlines(db, catalog.provider_id)
    await wait_for(lambda: _is(db, hold["id"], "expired"), timeout=SWEEP_INTERVAL + 3, what="the hold to expire")

    audit = await db.fetch("SELECT from_status, to_status, actor_id, actor_role, reason FROM appointment_transitions"
                           " WHERE appointment_id = $1 ORDER BY id", uuid.UUID(hold["id"]))
    assert [tuple(row) for row in audit] == [
        (None, "locked", uuid.UUID(hold["client_id"]), "client", None),
        ("locked", "expired", None, "system", "hold deadline passed"),
    ]
    [expired] = await payloads(db, "appointment.expired", "appointment_id", hold["id"])
    assert (expired["status"], expired["slot_id"], expired["client_id"]) == ("expired", hold["slot_id"],
                                                                             hold["client_id"])
    [released] = await payloads(db, "slot.released", "appointment_id", hold["id"])
    assert (released["slot_id"], released["provider_id"], released["service_id"]) == (
        hold["slot_id"], hold["provider_id"], hold["service_id"])
    assert [datetime.fromisoformat(released[key]) for key in ("starts_at", "ends_at")] == [
        datetime.fromisoformat(hold[key]) for key in ("starts_at", "ends_at")]
    assert released["released_by"] == "system", "every expiry path (sweeper, confirm, a full slot) says system"
    assert not await api.http.app[REDIS].exists(lock_key), "the Redis lock goes with the hold, not at its TTL"


async def _none_locked(db: asyncpg.Connection, ids: list[uuid.UUID]) -> bool:
    return not await db.fetchval(
        "SELECT count(*) FROM appointments WHERE id = ANY($1::uuid[]) AND status = 'locked'", ids)


async def test_two_sweepers_side_by_side_expire_every_hold_exactly_once(
    api: Any, catalog: Any, db: asyncpg.Connection, second_pool: asyncpg.Pool
) -> None:
    made = await holds(api, catalog, 60)
    [not_due] = await holds(api, await api.catalog(), 1)
    before = REGISTRY.get_sample_value("smartslot_booking_hold_expiries_total") or 0
    await rewind_deadlines(db, catalog.provider_id)

    lock = api.http.app[LOCK]
    first, second = await asyncio.gather(
        sweeper.sweep(PostgresUnitOfWork(api.http.app[POOL]), lock, batch_size=5),
        sweeper.sweep(PostgresUnitOfWork(second_pool), lock, batch_size=5))

    # The app's own background sweeper is a third one in the race; each of the three may win any batch, so only
    # the outcome is asserted, not the split. Rows it has locked were skipped by the two sweeps above, which may
    # return before its batch commits: wait for that commit.
    ids = [uuid.UUID(hold["id"]) for hold in made]
    await wait_for(lambda: _none_locked(db, ids), timeout=10, what="every due hold to leave `locked`")
    rows = await db.fetch("SELECT appointment_id, count(*) FROM appointment_transitions"
                          " WHERE appointment_id = ANY($1::uuid[]) AND to_status = 'expired' GROUP BY 1", ids)
    assert len(rows) == len(made), "every due hold is expired"
    assert {row["count"] for row in rows} == {1}, "and each exactly once"
    events = await db.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'appointment.expired'"
                               " AND (envelope->'payload'->>'appointment_id')::uuid = ANY($1::uuid[])", ids)
    assert events == len(made)
    seats = await db.fetchrow("SELECT sum(held) AS held, sum(booked) AS booked FROM slots WHERE provider_id = $1",
                              uuid.UUID(catalog.provider_id))
    assert (seats["held"], seats["booked"]) == (0, 0)
    assert await status_of(db, not_due["id"]) == "locked", "a hold before its deadline is left alone"
    after = REGISTRY.get_sample_value("smartslot_booking_hold_expiries_total")
    assert after - before >= first + second


async def test_a_hold_locked_by_a_confirmation_in_progress_is_skipped_not_waited_for(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    busy, idle = await holds(api, catalog, 2)
    await rewind_deadlines(db, catalog.provider_id)
    confirming = db.transaction()
    await confirming.start()
    try:
        await db.execute("SELECT 1 FROM appointments WHERE id = $1 FOR UPDATE", uuid.UUID(busy["id"]))
        async with asyncio.timeout(5):  # SKIP LOCKED: the sweep never blocks on the locked row
            await sweeper.sweep(PostgresUnitOfWork(api.http.app[POOL]), api.http.app[LOCK])
        await wait_for(lambda: _is(db, idle["id"], "expired"), timeout=SWEEP_INTERVAL + 3, what="the idle hold")
        assert await status_of(db, busy["id"]) == "locked"
    finally:
        await confirming.rollback()
    await wait_for(lambda: _is(db, busy["id"], "expired"), timeout=SWEEP_INTERVAL + 3,
                   what="the hold, once its row is free")
