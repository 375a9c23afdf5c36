"""Webhook endpoints as admins register them: an http(s) URL and the event types it wants."""

from __future__ import annotations

from urllib.parse import urlsplit

from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_EXPIRED,
    APPOINTMENT_LOCKED,
    APPOINTMENT_NO_SHOW,
    APPOINTMENT_RESCHEDULED,
    WAITLIST_OFFER_EXPIRED,
    WAITLIST_OFFER_MADE,
)

# The events the notifier hears (its subscription), so the ones an endpoint can ask for.
WEBHOOK_EVENT_TYPES = (
    APPOINTMENT_LOCKED, APPOINTMENT_CONFIRMED, APPOINTMENT_CANCELLED, APPOINTMENT_COMPLETED, APPOINTMENT_NO_SHOW,
    APPOINTMENT_EXPIRED, APPOINTMENT_RESCHEDULED, WAITLIST_OFFER_MADE, WAITLIST_OFFER_EXPIRED,
)
MAX_URL_LENGTH = 2048


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook endpoint, or None when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as error:
        return f"not a URL: {error}"
    if parts.scheme not in {"http", "https"}:
        return "only http and https URLs are allowed"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed"
    return None


def event_type_problem(event_types: list[str]) -> str | None:
    """Why this list of event types cannot be subscribed to, or None."""
    if not event_types:
        return "name at least one event type"
    unknown = sorted(set(event_types) - set(WEBHOOK_EVENT_TYPES))
    if unknown:
        return f"unknown event types {', '.join(unknown)}; known: {', '.join(WEBHOOK_EVENT_TYPES)}"
    return None
