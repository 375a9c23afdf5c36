"""Booking's application factory: the write model behind the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from booking.adapters.slot_lock import SlotLock
from booking.app_keys import AMQP, LOCK, POOL, REDIS, SETTINGS
from booking.entrypoints import routes_appointments, routes_booking, routes_catalog, routes_schedules
from booking.entrypoints.errors import domain_errors
from booking.entrypoints.jobs import contexts as background_jobs
from booking.settings import BookingSettings
from smartslot_common.db import ping, pool_context
from smartslot_common.http import ReadinessCheck, create_base_app
from smartslot_common.http.identity import identity_key
from smartslot_common.messaging import RELAY_IN_PROCESS, amqp_context, amqp_readiness, relay_context
from smartslot_common.redis import connect_redis

SCHEMA = "booking"


def _lock_context(settings: BookingSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        urls = [url.get_secret_value() for url in settings.lock_redis_urls] or [settings.redis_url.get_secret_value()]
        masters = [await connect_redis(url, required=False) for url in urls]
        app[REDIS] = masters[0]
        app[LOCK] = SlotLock(masters, settings.redis_key(), remember_seconds=settings.refusal_memory_seconds)
        yield
        for master in masters:
            await master.aclose()

    return context


async def _redis_ping(app: web.Application) -> None:
    await app[REDIS].ping()


def create_app(settings: BookingSettings) -> web.Application:
    """An unstarted booking application for these settings."""
    readiness = [
        ReadinessCheck("postgres", lambda app: ping(app[POOL]), "start PostgreSQL: make infra"),
        ReadinessCheck("redis", _redis_ping, "holds run in database-only mode until Redis is back", critical=False),
        amqp_readiness(AMQP),
    ]
    app = create_base_app(readiness, identity=identity_key(settings))
    app.middlewares.append(domain_errors)
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([
        pool_context(POOL, settings.database_url.get_secret_value(), SCHEMA,
                     settings.db_pool_min_size, settings.db_pool_max_size, RELAY_IN_PROCESS),
        _lock_context(settings),
        amqp_context(AMQP, settings.amqp_url.get_secret_value(), settings.namespace,
                     queue_type=settings.amqp_queue_type),
        relay_context(POOL, AMQP, SCHEMA, settings.namespace),
    ])
    app.cleanup_ctx.extend(background_jobs())  # after the pool and the lock they use; stopped before them
    for module in (routes_catalog, routes_schedules, routes_booking, routes_appointments):
        app.add_routes(module.routes)
    return app
