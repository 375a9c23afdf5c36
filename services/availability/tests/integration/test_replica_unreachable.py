"""A replica that cannot be reached (stopped, restarting, failed over): searches are answered from the primary,
uncached, never a 5xx, and /readyz says the replica is down."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.faults import TcpProxy

pytestmark = pytest.mark.integration


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=(userinfo + "@" if userinfo else "") + f"127.0.0.1:{port}"))


async def test_with_the_replica_gone_searches_read_the_primary_and_readiness_says_so(
    stack: IsolatedStack, extra_availability, rows, at
):
    if stack.replica_database_url is None:
        pytest.fail("no streaming replica answers on 127.0.0.1:5433: start one with `make replica`", pytrace=False)
    replica = urlsplit(stack.replica_database_url)
    async with TcpProxy(0, replica.hostname or "127.0.0.1", replica.port or 5432) as proxy:
        availability = await extra_availability(replica_database_url=_via(stack.replica_database_url, proxy.port))
        assert (await availability.get("/readyz")).body["checks"]["replica"] == "ok"
        await proxy.cut()

        # Written to the primary only now: neither the replica nor the cache could know them.
        catalog = await rows.catalog()
        slot = await rows.slot(catalog.provider_id, catalog.service_id, at(2))
        for _ in range(3):  # every time, not only the first (nothing from the primary is cached)
            assert await availability.slot_ids(catalog.service_id, at(1), at(4)) == [str(slot)]
        ready = await availability.get("/readyz")
        assert ready.status == 503, ready.body
        assert ready.body["checks"]["replica"].startswith("down:"), ready.body

        await proxy.restore()
        assert await availability.slot_ids(catalog.service_id, at(1), at(4)) == [str(slot)]
        assert (await availability.get("/readyz")).body["checks"]["replica"] == "ok"
