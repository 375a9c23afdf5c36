"""The invariant checker on the real database: a clean database counts nothing; corrupted rows (written inside a
transaction that is rolled back, so nothing else in this run ever sees them) are counted and exported."""

from __future__ import annotations

import sys
import uuid

import asyncpg
import pytest
from prometheus_client import REGISTRY

from booking import invariants
from smartslot_common.testing import IsolatedStack

pytestmark = pytest.mark.integration
DOUBLE_BOOKING = ("overlapping_slots", "overfull_slots", "counter_drift")


async def test_a_clean_database_has_no_double_booking(db: asyncpg.Connection) -> None:
    counts = await invariants.check(db)
    assert set(counts) == set(invariants.INVARIANTS)
    assert {name: counts[name] for name in DOUBLE_BOOKING} == dict.fromkeys(DOUBLE_BOOKING, 0)


async def test_corrupted_rows_are_counted(db: asyncpg.Connection, api, catalog) -> None:
    slot = await api.slot(catalog, api.future(days=40))
    baseline = await invariants.check(db)
    transaction = db.transaction()
    await transaction.start()
    try:
        await db.execute(
            "INSERT INTO booking.outbox (id, event_type, envelope, created_at, next_attempt_at)"
            " VALUES ($1, 'appointment.locked', '{}'::jsonb, now() - interval '1 hour', now() + interval '1 day')",
            uuid.uuid4(),
        )
        await db.execute("UPDATE booking.slots SET held = 1 WHERE id = $1", uuid.UUID(slot["id"]))
        await db.execute(
            "INSERT INTO booking.appointments (id, slot_id, provider_id, service_id, client_id, status, starts_at,"
            " ends_at, hold_expires_at, currency) SELECT $1, id, provider_id, service_id, $2, 'locked', starts_at,"
            " ends_at, now() - interval '1 hour', 'EUR' FROM booking.slots WHERE id = $3",
            uuid.uuid4(), uuid.uuid4(), uuid.UUID(slot["id"]),
        )
        corrupted = await invariants.check(db)
    finally:
        await transaction.rollback()

    delta = {name: corrupted[name] - baseline[name] for name in corrupted}
    assert delta["booking_outbox_stuck"] == 1
    assert delta["holds_past_deadline"] == 1
    assert {name: delta[name] for name in DOUBLE_BOOKING} == dict.fromkeys(DOUBLE_BOOKING, 0)
    invariants.export(corrupted)
    exported = REGISTRY.get_sample_value("smartslot_invariant_violations", {"invariant": "holds_past_deadline"})
    assert exported == corrupted["holds_past_deadline"]


async def test_the_command_prints_counts(stack: IsolatedStack) -> None:
    import asyncio

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "booking.invariants", env={"SMARTSLOT_DATABASE_URL": stack.database_url, "PATH": ""},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert b"overlapping_slots" in stdout, stderr
    assert process.returncode in (0, 1)


async def test_the_checks_only_the_tests_and_benchmarks_run_count_what_they_should(
    db: asyncpg.Connection, api, catalog
) -> None:
    """I1 from the appointments alone, I2 against the ids the API answered, I3 an event for every appointment."""
    slot = await api.slot(catalog, api.future(days=41))
    baseline = (await invariants.live_over_capacity(db), await invariants.appointments_without_event(db))
    transaction = db.transaction()
    await transaction.start()
    try:
        stored = []
        for _ in range(2):  # two live appointments on a one-seat slot, neither with an event
            stored.append(await db.fetchval(
                "INSERT INTO booking.appointments (id, slot_id, provider_id, service_id, client_id, status, starts_at,"
                " ends_at, hold_expires_at, currency) SELECT $1, id, provider_id, service_id, $2, 'locked', starts_at,"
                " ends_at, now() + interval '1 hour', 'EUR' FROM booking.slots WHERE id = $3 RETURNING id",
                uuid.uuid4(), uuid.uuid4(), uuid.UUID(slot["id"]),
            ))
        counted = (await invariants.live_over_capacity(db), await invariants.appointments_without_event(db))
        answered = [str(stored[0]), str(stored[0]), str(uuid.uuid4())]  # a replayed answer, and one never stored
        missing = await invariants.answered_but_missing(db, answered)
    finally:
        await transaction.rollback()

    assert (counted[0] - baseline[0], counted[1] - baseline[1]) == (1, 2)
    assert missing == 1
