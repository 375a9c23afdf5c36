"""Background jobs as cleanup contexts: the webhook HTTP session, the delivery worker and the reminder poller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from notifier.adapters.smtp import SmtpSender
from notifier.adapters.webhook_destinations import Destinations
from notifier.adapters.webhook_http import WebhookSender
from notifier.app_keys import DESTINATIONS, HTTP, POOL, SETTINGS, WORKER
from notifier.service_layer.delivery_worker import DeliveryWorker
from notifier.service_layer.reminder_poller import ReminderPoller
from smartslot_common.jobs import running

# How long a loop may take on shutdown to finish what it holds (deliveries in flight) before it is cancelled.
STOP_GRACE_SECONDS = 15.0


async def http_session(app: web.Application) -> AsyncIterator[None]:
    """The outbound HTTP session for webhook calls (no cookies, no environment proxies), resolving every host
    through the destinations' guard."""
    destinations = Destinations.from_settings(app[SETTINGS])
    app[DESTINATIONS] = destinations
    connector = aiohttp.TCPConnector(resolver=destinations.resolver)
    try:
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
        ) as session:
            app[HTTP] = session
            yield
    finally:
        await destinations.close()


async def delivery_worker(app: web.Application) -> AsyncIterator[None]:
    """Send and retry deliveries while the app runs."""
    settings = app[SETTINGS]
    smtp = SmtpSender(settings)
    webhooks = WebhookSender(app[HTTP], settings.webhook_timeout_seconds, app[DESTINATIONS])
    worker = DeliveryWorker(app[POOL], settings, smtp, webhooks)
    app[WORKER] = worker
    async with running(worker, "notifier-deliveries", STOP_GRACE_SECONDS):
        yield
    await smtp.close()


async def reminder_poller(app: web.Application) -> AsyncIterator[None]:
    """Dispatch due reminders while the app runs."""
    poller = ReminderPoller(app[POOL], app[SETTINGS], app[WORKER])
    async with running(poller, "notifier-reminders", STOP_GRACE_SECONDS):
        yield
