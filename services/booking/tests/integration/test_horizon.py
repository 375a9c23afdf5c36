"""The horizon job on the real database: generated slots always reach the booking horizon; only days never generated
are generated (a second run creates nothing, a deleted slot stays deleted), time off is honoured, one process at a
time does the work, and a starting booking process runs it at once."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from booking.app_keys import POOL
from booking.service_layer import horizon
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration

HORIZON_DAYS = 366  # the run's booking apps use this horizon (conftest)
SLOTS_A_DAY = 6  # 09:00-12:00 in 30-minute slots, every day of the week


async def every_day(api: Any) -> Any:
    catalog = await api.catalog()
    rules = [{"weekday": day, "start": "09:00", "end": "12:00", "service_id": catalog.service_id} for day in range(7)]
    reply = await api.call("PUT", f"/v1/providers/{catalog.provider_id}/working-hours", api.admin(), {"rules": rules})
    assert reply.status == 200, reply.body
    return catalog


async def today(db: asyncpg.Connection, catalog: Any) -> date:
    """The provider's local date on the database clock (the one the job uses)."""
    return (await db.fetchval("SELECT clock_timestamp()")).astimezone(ZoneInfo(catalog.zone)).date()


async def slots_on(db: asyncpg.Connection, catalog: Any, day: date, status: str = "open") -> int:
    zone = ZoneInfo(catalog.zone)
    start, end = datetime.combine(day, time(0), zone), datetime.combine(day + timedelta(days=1), time(0), zone)
    return await db.fetchval("SELECT count(*) FROM slots WHERE provider_id = $1 AND status = $4 AND starts_at >= $2"
                             " AND starts_at < $3", uuid.UUID(catalog.provider_id), start, end, status)


async def generated_until(db: asyncpg.Connection, catalog: Any) -> date:
    return await db.fetchval("SELECT slots_generated_until FROM providers WHERE id = $1",
                             uuid.UUID(catalog.provider_id))


async def rewind(db: asyncpg.Connection, catalog: Any, cut: date) -> None:
    """As if the job had last run some days ago: the days from `cut` on were never generated."""
    provider_id = uuid.UUID(catalog.provider_id)
    await db.execute("DELETE FROM slots WHERE provider_id = $1 AND starts_at >= $2", provider_id,
                     datetime.combine(cut, time(0), ZoneInfo(catalog.zone)))
    await db.execute("UPDATE providers SET slots_generated_until = $2 WHERE id = $1", provider_id, cut)


async def run(api: Any, horizon_days: int = HORIZON_DAYS) -> horizon.HorizonRun:
    """One run of the job; if a booking process's own run holds the lock just now, wait for it to finish."""
    return await wait_for(lambda: horizon.extend_all(api.http.app[POOL], horizon_days), timeout=30,
                          what="the horizon job's lock")


async def test_working_hours_reach_the_horizon_and_a_second_run_creates_nothing(
    api: Any, db: asyncpg.Connection
) -> None:
    catalog = await every_day(api)
    first_day = await today(db, catalog)
    assert await generated_until(db, catalog) == first_day + timedelta(days=HORIZON_DAYS)
    assert await slots_on(db, catalog, first_day + timedelta(days=HORIZON_DAYS - 1)) == SLOTS_A_DAY
    assert await slots_on(db, catalog, first_day + timedelta(days=HORIZON_DAYS)) == 0
    await run(api)
    again = await run(api)
    assert again.slots_created == 0
    assert await slots_on(db, catalog, first_day + timedelta(days=HORIZON_DAYS)) == 0


async def test_a_newly_uncovered_day_is_filled_once(api: Any, db: asyncpg.Connection) -> None:
    catalog = await every_day(api)
    new_day = await today(db, catalog) + timedelta(days=HORIZON_DAYS)
    # A horizon one day longer uncovers exactly the day a real day passing would.
    await run(api, HORIZON_DAYS + 1)
    assert await slots_on(db, catalog, new_day) == SLOTS_A_DAY
    assert await generated_until(db, catalog) == new_day + timedelta(days=1)
    assert (await run(api, HORIZON_DAYS + 1)).slots_created == 0
    assert await slots_on(db, catalog, new_day) == SLOTS_A_DAY
    changed = await db.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'schedule.changed'"
                                " AND envelope->'payload'->>'provider_id' = $1"
                                " AND envelope->'payload'->>'reason' = 'horizon'", catalog.provider_id)
    assert changed == 1


async def test_days_already_generated_are_not_generated_again(api: Any, db: asyncpg.Connection) -> None:
    catalog = await every_day(api)
    last_day = await today(db, catalog) + timedelta(days=HORIZON_DAYS - 1)
    slot_id = await db.fetchval("SELECT id FROM slots WHERE provider_id = $1 ORDER BY starts_at DESC LIMIT 1",
                                uuid.UUID(catalog.provider_id))
    assert (await api.call("DELETE", f"/v1/slots/{slot_id}", api.admin())).status == 204
    await run(api)
    assert await slots_on(db, catalog, last_day) == SLOTS_A_DAY - 1, "a deleted slot stays deleted"


async def test_a_rewound_horizon_is_regenerated_exactly(api: Any, db: asyncpg.Connection) -> None:
    catalog = await every_day(api)
    first_day = await today(db, catalog)
    cut = first_day + timedelta(days=HORIZON_DAYS - 3)
    await rewind(db, catalog, cut)
    await run(api)
    assert [await slots_on(db, catalog, cut + timedelta(days=n)) for n in range(4)] == [SLOTS_A_DAY] * 3 + [0]


async def test_the_job_honours_time_off(api: Any, db: asyncpg.Connection) -> None:
    catalog = await every_day(api)
    new_day = await today(db, catalog) + timedelta(days=HORIZON_DAYS)
    zone = ZoneInfo(catalog.zone)
    reply = await api.call("POST", f"/v1/providers/{catalog.provider_id}/time-off", api.admin(), {
        "starts_at": datetime.combine(new_day, time(10), zone).isoformat(),
        "ends_at": datetime.combine(new_day, time(11), zone).isoformat(), "reason": "far away"})
    assert (reply.status, reply.body.get("blocked_slot_ids")) == (201, [])
    await run(api, HORIZON_DAYS + 1)
    assert await slots_on(db, catalog, new_day) == SLOTS_A_DAY - 2


async def test_one_process_at_a_time_does_the_job(api: Any, db: asyncpg.Connection) -> None:
    catalog = await every_day(api)
    new_day = await today(db, catalog) + timedelta(days=HORIZON_DAYS)
    other = db.transaction()
    await other.start()
    try:
        assert await db.fetchval("SELECT pg_try_advisory_xact_lock($1)", horizon.LOCK_KEY)
        assert await horizon.extend_all(api.http.app[POOL], HORIZON_DAYS + 1) is None
        assert await slots_on(db, catalog, new_day) == 0
    finally:
        await other.rollback()
    assert (await run(api, HORIZON_DAYS + 1)).slots_created >= SLOTS_A_DAY


async def test_a_starting_booking_process_extends_the_horizon(
    api: Any, db: asyncpg.Connection, extra_booking: Any
) -> None:
    catalog = await every_day(api)
    last_day = await today(db, catalog) + timedelta(days=HORIZON_DAYS - 1)
    await rewind(db, catalog, last_day)
    await extra_booking()

    async def filled() -> bool:
        return await slots_on(db, catalog, last_day) == SLOTS_A_DAY

    await wait_for(filled, timeout=30, what="the start-up run of the horizon job")
