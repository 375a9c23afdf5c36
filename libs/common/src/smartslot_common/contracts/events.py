"""Event types and subscriptions: the one place that says who hears what."""

from __future__ import annotations

from typing import Final

APPOINTMENT_LOCKED: Final = "appointment.locked"
APPOINTMENT_CONFIRMED: Final = "appointment.confirmed"
APPOINTMENT_CANCELLED: Final = "appointment.cancelled"
APPOINTMENT_COMPLETED: Final = "appointment.completed"
APPOINTMENT_NO_SHOW: Final = "appointment.no_show"
APPOINTMENT_EXPIRED: Final = "appointment.expired"
APPOINTMENT_RESCHEDULED: Final = "appointment.rescheduled"
SLOT_CREATED: Final = "slot.created"
SLOT_RELEASED: Final = "slot.released"
SLOT_BLOCKED: Final = "slot.blocked"
SCHEDULE_CHANGED: Final = "schedule.changed"
WAITLIST_JOINED: Final = "waitlist.joined"
WAITLIST_OFFER_MADE: Final = "waitlist.offer_made"
WAITLIST_OFFER_EXPIRED: Final = "waitlist.offer_expired"
WAITLIST_OFFER_ACCEPTED: Final = "waitlist.offer_accepted"
NOTIFICATION_SENT: Final = "notification.sent"
NOTIFICATION_FAILED: Final = "notification.failed"

EVENT_TYPES: Final = (
    APPOINTMENT_LOCKED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    APPOINTMENT_NO_SHOW,
    APPOINTMENT_EXPIRED,
    APPOINTMENT_RESCHEDULED,
    SLOT_CREATED,
    SLOT_RELEASED,
    SLOT_BLOCKED,
    SCHEDULE_CHANGED,
    WAITLIST_JOINED,
    WAITLIST_OFFER_MADE,
    WAITLIST_OFFER_EXPIRED,
    WAITLIST_OFFER_ACCEPTED,
    NOTIFICATION_SENT,
    NOTIFICATION_FAILED,
)

# consumer name -> routing-key patterns its durable queue is bound with (topic exchange syntax).
SUBSCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "notifier": ("appointment.*", "waitlist.offer_made", "waitlist.offer_expired"),
    "availability": ("appointment.*", "slot.*", "schedule.changed", "waitlist.offer_*"),
    "waitlist": ("slot.released", "appointment.confirmed", "appointment.cancelled", "appointment.expired"),
}
