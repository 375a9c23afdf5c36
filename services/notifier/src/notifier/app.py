"""The notifier's application factory: consumes events, keeps the in-app feed."""

from __future__ import annotations

from aiohttp import web

from notifier.app_keys import AMQP, POOL, SETTINGS
from notifier.entrypoints.consumers import HANDLERS
from notifier.entrypoints.http import routes
from notifier.settings import NotifierSettings
from smartslot_common.db import postgres_readiness, service_pool_context
from smartslot_common.http import create_base_app
from smartslot_common.messaging import amqp_context, amqp_readiness, consumer_context

SCHEMA = "notifier"


def create_app(settings: NotifierSettings) -> web.Application:
    """An unstarted notifier for these settings."""
    app = create_base_app([
        postgres_readiness(POOL),
        amqp_readiness(AMQP),
    ])
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([
        service_pool_context(POOL, settings, SCHEMA),
        amqp_context(AMQP, settings.amqp_url.get_secret_value(), settings.namespace),
        consumer_context(POOL, AMQP, "notifier", settings.namespace, HANDLERS),
    ])
    app.add_routes(routes)
    return app
