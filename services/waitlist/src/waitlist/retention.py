"""What the waitlist keeps only for a while, and for how long (`smartslot_common.retention` deletes the rest).

Entries (the history `GET /v1/waitlist` shows), their offers and the seats those walked down are never deleted, nor
are unpublished outbox rows. `slot_context` (names of the slots events told us about, one row per slot) is kept too:
a slot may be freed months after it was booked, and its offer needs the names.
"""

from __future__ import annotations

from smartslot_common.retention import RetentionPolicy
from waitlist.settings import WaitlistSettings


def policies(settings: WaitlistSettings) -> list[RetentionPolicy]:
    """The waitlist's retention policies under these settings."""
    return [
        # The relay never reads a row again once the broker confirmed it: what stays is a record for operators.
        RetentionPolicy("outbox", "published_at", settings.retention_outbox, where="published_at IS NOT NULL"),
        # An inbox row must outlive every redelivery of its event, or the event would be applied twice. A message
        # comes back after a crash between commit and ack (seconds), after the relay re-publishes a row whose confirm
        # it did not record (its backoff: minutes), after waiting in the queue through a consumer outage (no TTL: the
        # outage), and when an operator replays dead letters (their queue has no TTL either: a duplicate copy may sit
        # there). The window is the bound on the last two, so replay dead letters within it (default 14 days).
        RetentionPolicy("inbox", "received_at", settings.retention_inbox),
        # Booking's word on a hold no offer knew yet: read when the offer is recorded, which is within the request's
        # lease and the offer's deadline (both at most a day); rare rows, so a scan of the table is cheap.
        RetentionPolicy("early_outcomes", "recorded_at", settings.retention_early_outcomes),
    ]
