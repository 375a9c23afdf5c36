"""Runtime metrics every service exports: event-loop lag (a background probe) and asyncpg pool use (a collector).

The instruments are created in `smartslot_common.metrics`; the pool gauges are computed at scrape time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import asyncpg
from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from smartslot_common.metrics import EVENT_LOOP_LAG, EVENT_LOOP_LAG_LAST

LOOP_PROBE_INTERVAL_SECONDS = 0.5
# asyncpg pools take no weak references: closed pools are dropped at the next scrape instead.
_POOLS: dict[int, tuple[asyncpg.Pool, str]] = {}


async def probe_loop_lag(interval: float = LOOP_PROBE_INTERVAL_SECONDS) -> None:
    """Sleep `interval` again and again and record how much later than asked the loop woke us."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(interval)
        lag = max(0.0, loop.time() - asked - interval)
        EVENT_LOOP_LAG.observe(lag)
        EVENT_LOOP_LAG_LAST.set(lag)


async def loop_lag_context(_: web.Application) -> AsyncIterator[None]:
    """Cleanup context: run the loop-lag probe while the app runs."""
    task = asyncio.create_task(probe_loop_lag(), name="event-loop-lag-probe")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def track_pool(pool: asyncpg.Pool, name: str) -> None:
    """Export `pool`'s size and use under `pool=name` until it is closed."""
    _POOLS[id(pool)] = (pool, name)


class PoolCollector(Collector):
    """`smartslot_db_pool_*` gauges from the live asyncpg pools, summed by pool name."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Read every tracked, open pool's counters at scrape time."""
        sizes = GaugeMetricFamily("smartslot_db_pool_connections", "Open connections in the pool", labels=["pool"])
        in_use = GaugeMetricFamily("smartslot_db_pool_in_use_connections", "Connections checked out", labels=["pool"])
        limits = GaugeMetricFamily("smartslot_db_pool_max_connections", "Pool size limit", labels=["pool"])
        totals: dict[str, list[int]] = {}
        for key, (pool, name) in list(_POOLS.items()):
            if pool.is_closing():
                _POOLS.pop(key, None)
                continue
            total = totals.setdefault(name, [0, 0, 0])
            total[0] += pool.get_size()
            total[1] += pool.get_size() - pool.get_idle_size()
            total[2] += pool.get_max_size()
        for name, (size, used, limit) in sorted(totals.items()):
            sizes.add_metric([name], size)
            in_use.add_metric([name], used)
            limits.add_metric([name], limit)
        yield from (sizes, in_use, limits)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families this collector yields, so the registry can check for name clashes without a scrape."""
        return self.collect()


POOL_COLLECTOR = PoolCollector()
with contextlib.suppress(ValueError):  # already registered by an earlier import under another module name
    REGISTRY.register(POOL_COLLECTOR)
