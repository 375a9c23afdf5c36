"""The waitlist's application factory: entries over HTTP; offers driven by booking's events and its own timers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from smartslot_common.db import postgres_readiness, service_pool_context
from smartslot_common.http import create_base_app
from smartslot_common.http.identity import IDENTITY_KEY, identity_key
from smartslot_common.messaging import (
    RELAY_IN_PROCESS,
    amqp_context,
    amqp_readiness,
    consumer_context,
    relay_context,
)
from waitlist.adapters.booking import BookingClient, BookingPort
from waitlist.app_keys import AMQP, BOOKING, OFFERER, POOL, SETTINGS
from waitlist.entrypoints import consumers, http, jobs
from waitlist.entrypoints.errors import domain_errors
from waitlist.service_layer.dispatch import Offerer
from waitlist.service_layer.unit_of_work import PostgresUnitOfWork
from waitlist.settings import WaitlistSettings

SCHEMA = "waitlist"
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def _booking_context(given: BookingPort | None) -> CleanupContext:
    """One HTTP session to booking, every call bounded by the booking timeout (or the port given); its offerer."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        timeout = aiohttp.ClientTimeout(total=settings.booking_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            app[BOOKING] = given or BookingClient(session, settings.booking_url, settings.system_user_id,
                                                  app[IDENTITY_KEY])
            pool = app[POOL]
            app[OFFERER] = Offerer(lambda dispatch: PostgresUnitOfWork.pooled(pool, dispatch), app[BOOKING], settings)
            yield

    return context


def create_app(settings: WaitlistSettings, booking: BookingPort | None = None) -> web.Application:
    """An unstarted waitlist service for these settings (talking to `booking` if given, else over HTTP)."""
    app = create_base_app([
        postgres_readiness(POOL),
        amqp_readiness(AMQP),
    ], identity=identity_key(settings))
    app.middlewares.append(domain_errors)
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([
        service_pool_context(POOL, settings, SCHEMA, RELAY_IN_PROCESS),
        _booking_context(booking),
        amqp_context(AMQP, settings.amqp_url.get_secret_value(), settings.namespace,
                     queue_type=settings.amqp_queue_type),
        relay_context(POOL, AMQP, SCHEMA, settings.namespace),
        consumer_context(POOL, AMQP, "waitlist", settings.namespace, consumers.handlers),
    ])
    app.cleanup_ctx.extend(jobs.contexts())  # after everything they use; stopped first
    app.add_routes(http.routes)
    return app
