"""Availability's application factory: the read model over the replica, behind a Redis cache."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from availability.adapters.cache import PageCache
from availability.app_keys import AMQP, CACHE, POOL, READ_POOL, REDIS, SEARCH, SETTINGS
from availability.entrypoints import analytics, consumers, http, schedule, stream
from availability.service_layer.answers import Answers
from availability.service_layer.search import SearchDeps, new_flights
from availability.settings import AvailabilitySettings
from smartslot_common.db import close_pool, create_pool, ping, pool_context, postgres_readiness
from smartslot_common.http import ReadinessCheck, create_base_app
from smartslot_common.http.identity import identity_key
from smartslot_common.logging import get_logger
from smartslot_common.messaging import amqp_context, amqp_readiness, consumer_context
from smartslot_common.redis import redis_context

SCHEMA = "availability"
log = get_logger(__name__)


async def _read_pool(app: web.Application) -> AsyncIterator[None]:
    """Reads go to the replica; without one they go to the primary, and the log and /readyz say so."""
    settings = app[SETTINGS]
    if settings.replica_database_url is None:
        log.warning("no_replica_configured_reading_primary")
        app[READ_POOL] = app[POOL]
        yield
        return
    pool = await create_pool(settings.replica_database_url.get_secret_value(), SCHEMA,
                             settings.db_pool_min_size, settings.db_pool_max_size, pool_name="availability_replica")
    app[READ_POOL] = pool
    yield
    await close_pool(pool)


async def _search(app: web.Application) -> AsyncIterator[None]:
    """The cache and what a search needs, with this process's single flights."""
    settings = app[SETTINGS]
    app[CACHE] = PageCache(app[REDIS], settings.redis_key(), settings.cache_ttl_seconds, settings.fence_ttl_seconds,
                           settings.local_page_entries)
    page_flights, service_flights = new_flights()
    app[SEARCH] = SearchDeps(app[CACHE], app[READ_POOL], app[POOL], settings.service_ttl_seconds,
                             settings.unknown_service_ttl_seconds, page_flights, service_flights,
                             Answers(settings.answer_cache_bytes), settings.cache_ttl_seconds)
    following = asyncio.create_task(app[CACHE].followed.follow(), name="availability-fences")
    yield
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await following


async def _replica_probe(app: web.Application) -> None:
    if app[READ_POOL] is app[POOL]:
        raise RuntimeError("no replica configured: reading the primary")
    await ping(app[READ_POOL])


# Seconds since the last transaction the replica replayed was committed on the primary, while it has received WAL it
# has not replayed yet (a replica that has replayed all it received is not behind, however old its last commit).
REPLAY_LAG = """
SELECT CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8
"""


async def _replica_lag_probe(app: web.Application) -> None:
    """Degraded while the replica replays more than `replica_lag_degraded_seconds` behind the primary: answers stay
    right (fills behind a fence read the primary), but the primary carries the reads."""
    if app[READ_POOL] is app[POOL]:
        return
    lag = float(await app[READ_POOL].fetchval(REPLAY_LAG))
    limit = app[SETTINGS].replica_lag_degraded_seconds
    if lag > limit:
        raise RuntimeError(f"replica replay {lag:.1f} s behind the primary (over {limit:g} s)")


def create_app(settings: AvailabilitySettings) -> web.Application:
    """An unstarted availability service for these settings."""
    app = create_base_app([
        postgres_readiness(POOL),
        ReadinessCheck("replica", _replica_probe, "make replica", critical=settings.replica_database_url is not None),
        ReadinessCheck("replica_lag", _replica_lag_probe, "docs/runbooks/replica-lagging.md", critical=False),
        ReadinessCheck("redis", lambda app: app[REDIS].ping(), "start Redis: make infra"),
        amqp_readiness(AMQP),
    ], identity=identity_key(settings))
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([
        pool_context(POOL, settings.database_url.get_secret_value(), SCHEMA, 1, settings.db_pool_max_size),
        _read_pool,
        redis_context(REDIS, settings.redis_url.get_secret_value()),
        _search,
        amqp_context(AMQP, settings.amqp_url.get_secret_value(), settings.namespace,
                     queue_type=settings.amqp_queue_type),
        stream.live_context,  # before the consumer, which hands it what it applied
    ])
    app.on_shutdown.append(stream.close_streams)
    app.cleanup_ctx.append(consumer_context(POOL, AMQP, "availability", settings.namespace, consumers.handler(app)))
    for table in (http.routes, stream.routes, schedule.routes, analytics.routes):
        app.add_routes(table)
    return app
