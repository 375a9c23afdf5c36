"""What booking keeps only for a while, and for how long (`smartslot_common.retention` deletes the rest).

Appointments, their audit trail (`appointment_transitions`), slots and the catalog are never deleted: the API reads
them back for as long as they exist. Unpublished outbox rows are never deleted either.
"""

from __future__ import annotations

from booking.settings import BookingSettings
from smartslot_common.retention import RetentionPolicy


def policies(settings: BookingSettings) -> list[RetentionPolicy]:
    """Booking's retention policies under these settings."""
    return [
        # The relay never reads a row again once the broker confirmed it: what stays is a record for operators.
        RetentionPolicy("outbox", "published_at", settings.retention_outbox, where="published_at IS NOT NULL"),
        # Measured from expiry: a key answers replays for 24 hours after its call (API.md: "kept at least 24 h"), and
        # an expired key is already treated as unused by the next claim of it, so deleting it changes no answer.
        RetentionPolicy("idempotency_keys", "expires_at", settings.retention_idempotency_keys),
    ]
