"""The slower chores and what the service exports: entries whose window ended, the fill ratio, the instruments."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import REGISTRY

from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.service_api import ServiceApi
from waitlist.service_layer.sweeper import housekeeping
from waitlist.service_layer.unit_of_work import PostgresUnitOfWork

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(stack: IsolatedStack) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=2,
                                     server_settings={"search_path": "waitlist,public"})
    try:
        yield pool
    finally:
        await pool.close()


async def test_entries_whose_window_ended_expire_and_the_fill_ratio_is_read_from_the_database(pool: asyncpg.Pool):
    ended, open_ended = uuid.uuid4(), uuid.uuid4()
    await pool.executemany(
        "INSERT INTO entries (id, client_id, service_id, window_to) VALUES ($1, $2, $3, $4)",
        [(ended, uuid.uuid4(), uuid.uuid4(), None), (open_ended, uuid.uuid4(), uuid.uuid4(), None)],
    )
    await pool.execute("UPDATE entries SET window_to = clock_timestamp() - interval '1 minute' WHERE id = $1", ended)

    assert await housekeeping(PostgresUnitOfWork.pooled(pool)) >= 1

    statuses = dict(await pool.fetch("SELECT id, status FROM entries WHERE id = ANY($1)", [ended, open_ended]))
    assert statuses == {ended: "expired", open_ended: "waiting"}
    accepted, decided = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'accepted'), count(*) FILTER (WHERE status IN ('accepted', 'expired')) "
        "FROM offers"
    )
    if decided:
        assert REGISTRY.get_sample_value("smartslot_waitlist_fill_ratio") == pytest.approx(accepted / decided)


async def test_the_waitlist_instruments_are_exported(waitlist: ServiceApi):
    async with waitlist.http.get("/metrics") as response:
        text = await response.text()
    for name in ("smartslot_waitlist_offers_made_total", "smartslot_waitlist_offers_accepted_total",
                 "smartslot_waitlist_offers_expired_total", "smartslot_waitlist_fill_ratio",
                 "smartslot_waitlist_release_to_offer_seconds"):
        assert name in text
