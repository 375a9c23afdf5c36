"""What one delivery attempt's outcome means for the delivery and, for webhooks, for its endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from notifier.domain.retries import Backoff


class Outcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"  # try again later: 4xx SMTP reply, connection trouble, 5xx/timeout from a webhook
    PERMANENT = "permanent"  # this message can never go: 5xx SMTP reply to the recipient or the data
    GONE = "gone"  # the webhook endpoint answered 410: it wants nothing more
    REFUSED = "refused"  # the webhook URL is not https or leads to an address webhooks may not reach: not called


@dataclass(frozen=True)
class Attempt:
    """The result of handing one message to SMTP or to a webhook endpoint."""

    outcome: Outcome
    code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Next:
    """A delivery's state after an attempt: sent, failed for good, or pending again after `delay` seconds."""

    status: str
    delay: float | None = None


def after_attempt(attempt: Attempt, attempts: int, max_attempts: int, backoff: Backoff) -> Next:
    """Sent; failed (permanent, gone, refused, or out of attempts); or pending, retried after a growing delay."""
    if attempt.outcome is Outcome.SENT:
        return Next("sent")
    if attempt.outcome is Outcome.TRANSIENT and attempts < max_attempts:
        return Next("pending", backoff.delay(attempts))
    return Next("failed")


def disable_reason(attempt: Attempt, consecutive_failures: int, disable_after: int) -> str | None:
    """Why a webhook endpoint must be disabled after this attempt (None: it stays enabled)."""
    if attempt.outcome is Outcome.GONE:
        return "the endpoint answered 410 Gone"
    if attempt.outcome is not Outcome.SENT and consecutive_failures >= disable_after:
        return f"{consecutive_failures} consecutive failed deliveries"
    return None
