"""The notifier's application factory: consumes events, keeps the in-app feed."""

from __future__ import annotations

from aiohttp import web

from notifier.app_keys import AMQP, POOL, SETTINGS
from notifier.entrypoints.consumers import HANDLERS
from notifier.entrypoints.http import routes
from notifier.settings import NotifierSettings
from smartslot_common.db import ping, pool_context
from smartslot_common.http import ReadinessCheck, create_base_app
from smartslot_common.messaging import amqp_context, amqp_readiness, consumer_context

SCHEMA = "notifier"


def create_app(settings: NotifierSettings) -> web.Application:
    """An unstarted notifier for these settings."""
    app = create_base_app([
        ReadinessCheck("postgres", lambda app: ping(app[POOL]), "start PostgreSQL: make infra"),
        amqp_readiness(AMQP),
    ])
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([
        pool_context(POOL, settings.database_url.get_secret_value(), SCHEMA,
                     settings.db_pool_min_size, settings.db_pool_max_size),
        amqp_context(AMQP, settings.amqp_url.get_secret_value(), settings.namespace),
        consumer_context(POOL, AMQP, "notifier", settings.namespace, HANDLERS),
    ])
    app.add_routes(routes)
    return app
