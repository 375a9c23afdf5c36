"""What the service layer needs from the outside world, as protocols (real adapters and test fakes both fit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from notifier.domain.deliveries import Attempt
from notifier.domain.emails import Email


class EmailSender(Protocol):
    async def send(self, email: Email, message_id: str, date: datetime) -> Attempt:
        """Hand one email over; never raises for delivery problems, it reports them."""
        ...


class WebhookCaller(Protocol):
    async def send(self, url: str, secrets: Sequence[str], message_id: str, body: str) -> Attempt:
        """Make one call signed with each of `secrets`; never raises for delivery problems, it reports them."""
        ...
