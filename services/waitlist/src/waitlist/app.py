"""The waitlist's application factory: listens for freed slots (offers arrive with the waitlist issue)."""

from __future__ import annotations

from aiohttp import web

from smartslot_common.db import postgres_readiness, service_pool_context
from smartslot_common.http import create_base_app
from smartslot_common.messaging import amqp_context, amqp_readiness, consumer_context, relay_context
from waitlist.app_keys import AMQP, POOL, SETTINGS
from waitlist.settings import WaitlistSettings

SCHEMA = "waitlist"
HANDLERS: dict = {}


def create_app(settings: WaitlistSettings) -> web.Application:
    """An unstarted waitlist service for these settings."""
    app = create_base_app([
        postgres_readiness(POOL),
        amqp_readiness(AMQP),
    ])
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([
        service_pool_context(POOL, settings, SCHEMA),
        amqp_context(AMQP, settings.amqp_url.get_secret_value(), settings.namespace),
        relay_context(POOL, AMQP, SCHEMA, settings.namespace),
        consumer_context(POOL, AMQP, "waitlist", settings.namespace, HANDLERS),
    ])
    return app
