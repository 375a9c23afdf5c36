"""The notifier's application factory: consumes events into the feed, emails, reminders and webhooks."""

from __future__ import annotations

from aiohttp import web

from notifier import retention
from notifier.app_keys import AMQP, POOL, SETTINGS
from notifier.entrypoints import admin_webhooks, consumers, http, jobs, stream
from notifier.settings import NotifierSettings
from smartslot_common.db import postgres_readiness, service_pool_context
from smartslot_common.http import create_base_app
from smartslot_common.http.identity import identity_key
from smartslot_common.messaging import amqp_context, amqp_readiness, consumer_context

SCHEMA = "notifier"
CONSUMER = "notifier"


def create_app(settings: NotifierSettings) -> web.Application:
    """An unstarted notifier for these settings."""
    app = create_base_app([
        postgres_readiness(POOL),
        amqp_readiness(AMQP),
    ], identity=identity_key(settings))
    app[SETTINGS] = settings
    # Torn down in reverse: the consumer stops first (finishing its after-commit sends), the pool last.
    app.cleanup_ctx.extend([
        service_pool_context(POOL, settings, SCHEMA),
        stream.listener_context,
        amqp_context(AMQP, settings.amqp_url.get_secret_value(), settings.namespace,
                     queue_type=settings.amqp_queue_type),
        jobs.http_session,
        jobs.delivery_worker,
        jobs.reminder_poller,
        retention.job(),
        consumer_context(POOL, AMQP, CONSUMER, settings.namespace, consumers.handlers,
                         prefetch=settings.consumer_prefetch),
    ])
    app.on_shutdown.append(stream.close_streams)
    app.add_routes(stream.routes)
    app.add_routes(http.routes)
    app.add_routes(admin_webhooks.routes)
    return app
