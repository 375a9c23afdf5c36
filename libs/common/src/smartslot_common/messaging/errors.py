"""What can go wrong when events are published or handled."""

from __future__ import annotations


class MessagingError(Exception):
    """Base of the messaging errors."""


class PublishFailed(MessagingError):
    """The broker did not confirm the event (nack, timeout, lost connection): it may not be published."""


class Unroutable(MessagingError):
    """The broker returned the event: no queue is bound for its type."""


class PermanentError(MessagingError):
    """Raised by a handler for an event it can never apply; the event is dead-lettered without retries."""


def describe(error: BaseException | None) -> str:
    """An error's message, or its class name when it has none (for logs and `last_error`)."""
    if error is None:
        return ""
    return str(error) or type(error).__name__
