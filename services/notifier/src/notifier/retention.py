"""What the notifier keeps only for a while, and for how long (`smartslot_common.retention` deletes the rest).

Notifications are never deleted: the feed (`GET /v1/notifications`) documents no window, so a user may page back
to the first. Nor are pending deliveries, scheduled reminders, webhook endpoints, or `appointment_versions` (one row
per appointment, which keeps a late event from re-sending what a newer one withdrew).
"""

from __future__ import annotations

from aiohttp import web

from notifier.app_keys import POOL, SETTINGS
from notifier.settings import NotifierSettings
from smartslot_common.jobs import CleanupContext, background
from smartslot_common.retention import RetentionPolicy, pass_budget, retain


def policies(settings: NotifierSettings) -> list[RetentionPolicy]:
    """The notifier's retention policies under these settings."""
    return [
        # An inbox row must outlive every redelivery of its event, or the event would be applied twice (a second
        # email). A message comes back after a crash between commit and ack (seconds), after the relay re-publishes a
        # row whose confirm it did not record (its backoff: minutes), after waiting in the queue through a consumer
        # outage (no TTL: the outage), and when an operator replays dead letters (their queue has no TTL either: a
        # duplicate copy may sit there). The window bounds the last two: replay dead letters within it (14 days).
        RetentionPolicy("inbox", "received_at", settings.retention_inbox),
        # Sent or failed emails and webhook calls (the webhook delivery log admins read), by when they were queued.
        RetentionPolicy("deliveries", "created_at", settings.retention_deliveries, where="status <> 'pending'"),
        # Sent, cancelled or missed reminders, by when they were due.
        RetentionPolicy("reminders", "due_at", settings.retention_reminders, where="status <> 'scheduled'"),
    ]


async def _retain(app: web.Application) -> dict[str, int]:
    settings = app[SETTINGS]
    return await retain(app[POOL], policies(settings), settings.retention_batch_size, pass_budget(settings))


def job() -> CleanupContext:
    """The retention job, every `retention_interval_seconds`, as a cleanup context (after the pool it uses)."""
    return background("retention", lambda app: app[SETTINGS].retention_interval_seconds, _retain)
