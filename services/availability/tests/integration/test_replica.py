"""Reads go to the real streaming replica; without one, to the primary, and /readyz says so."""

from __future__ import annotations

import pytest

from availability.app_keys import POOL, READ_POOL
from smartslot_common.testing import IsolatedStack

pytestmark = pytest.mark.integration


async def test_the_read_pool_is_the_streaming_replica(stack: IsolatedStack, app, api):
    if stack.replica_database_url is None:
        pytest.fail("no streaming replica answers on 127.0.0.1:5433: start one with `make replica`", pytrace=False)
    assert app[READ_POOL] is not app[POOL]
    assert await app[READ_POOL].fetchval("SELECT pg_is_in_recovery()") is True
    assert await app[POOL].fetchval("SELECT pg_is_in_recovery()") is False
    ready = await api.get("/readyz")
    assert ready.status == 200
    assert ready.body["checks"]["replica"] == "ok"


async def test_without_a_replica_reads_go_to_the_primary_and_readiness_says_so(extra_availability, rows, at, replayed):
    alone = await extra_availability(replica_database_url=None)
    assert alone.app[READ_POOL] is alone.app[POOL]
    ready = await alone.get("/readyz")
    assert ready.status == 200
    assert ready.body["checks"]["replica"].startswith("degraded: no replica configured")

    catalog = await rows.catalog()
    slot = await rows.slot(catalog.provider_id, catalog.service_id, at(2))
    assert await alone.slot_ids(catalog.service_id, at(1), at(4)) == [str(slot)]
