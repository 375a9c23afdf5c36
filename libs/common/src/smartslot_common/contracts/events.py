"""Event types and subscriptions: the one place that says who hears what."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

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

APPOINTMENT_TYPES: Final = tuple(name for name in EVENT_TYPES if name.startswith("appointment."))
APPOINTMENT_ORIGINS: Final = ("client", "waitlist")  # AppointmentPayload.origin


def routing_key(event_type: str, payload: Mapping[str, Any]) -> str:
    """The key an event is published with: its type, and for an appointment event also its origin
    (`appointment.confirmed.client`, `appointment.confirmed.waitlist`), so a queue can be bound to one origin."""
    if not event_type.startswith("appointment."):
        return event_type
    origin = payload.get("origin")
    return f"{event_type}.{origin if origin in APPOINTMENT_ORIGINS else 'client'}"


def _any_origin(*event_types: str) -> tuple[str, ...]:
    # `#` also matches no word at all: a key without the origin (from a producer that predates it) still arrives.
    return tuple(f"{event_type}.#" for event_type in event_types)


# consumer name -> routing-key patterns its durable queue is bound with (topic exchange syntax). Each queue is bound
# to exactly the events its service handles (`handled_types` below says which those are): every binding costs the
# broker a delivery and the consumer a round of work, even for an event the consumer would only acknowledge.
SUBSCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    # every appointment event of either origin: emails, the feed, reminders and webhooks
    "notifier": (*_any_origin(*APPOINTMENT_TYPES), WAITLIST_OFFER_MADE, WAITLIST_OFFER_EXPIRED),
    # everything that changes what is free
    "availability": (
        *_any_origin(*APPOINTMENT_TYPES), SLOT_CREATED, SLOT_RELEASED, SLOT_BLOCKED, SCHEDULE_CHANGED,
    ),
    # freed seats; a confirmation only of its own holds; cancellations and expiries of any origin (it keeps the
    # slot's names for the offer it may make)
    "waitlist": (
        SLOT_RELEASED, f"{APPOINTMENT_CONFIRMED}.waitlist", *_any_origin(APPOINTMENT_CANCELLED, APPOINTMENT_EXPIRED),
    ),
}

# Bindings of earlier releases that a queue no longer needs: unbound at start-up (unbinding is idempotent). Bindings
# that only match keys without the origin (`appointment.confirmed` on the waitlist) are left: no new key matches them,
# and they keep a producer of an earlier release heard during a rolling upgrade.
RETIRED_BINDINGS: Final[dict[str, tuple[str, ...]]] = {
    "notifier": ("appointment.*",),
    "availability": ("appointment.*", "slot.*", "waitlist.offer_*"),
}


def topic_matches(pattern: str, key: str) -> bool:
    """Whether a topic-exchange binding `pattern` (`*` one word, `#` zero or more) matches routing key `key`."""
    return _matches(pattern.split("."), key.split("."))


def _matches(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_matches(rest, words[skip:]) for skip in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _matches(rest, words[1:])


def handled_types(consumer: str) -> frozenset[str]:
    """The event types that reach `consumer`'s queue, for at least one origin."""
    keys = {event_type: [routing_key(event_type, {"origin": origin}) for origin in APPOINTMENT_ORIGINS]
            for event_type in EVENT_TYPES}
    return frozenset(
        event_type for event_type, routed in keys.items()
        if any(topic_matches(pattern, key) for pattern in SUBSCRIPTIONS[consumer] for key in routed)
    )


def always_routed_types(consumer: str) -> frozenset[str]:
    """The event types that reach `consumer`'s queue whatever their origin (none for an unknown consumer): every
    event of these types published lands in that queue."""
    patterns = SUBSCRIPTIONS.get(consumer, ())
    return frozenset(
        event_type for event_type in EVENT_TYPES
        if all(any(topic_matches(pattern, routing_key(event_type, {"origin": origin})) for pattern in patterns)
               for origin in APPOINTMENT_ORIGINS)
    )
