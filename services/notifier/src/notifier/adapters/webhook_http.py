"""Webhook calls over HTTP (aiohttp): one signed POST per attempt, with a timeout, redirects not followed.

The session's connector resolves through the destinations' guarded resolver (see `webhook_destinations`), so a
call reaches only an address that was checked; a URL the rules refuse is never called.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import aiohttp

from notifier.adapters.webhook_destinations import Destinations, refusal
from notifier.domain.deliveries import Attempt, Outcome
from notifier.domain.signing import signed_headers
from smartslot_common.messaging.errors import describe

USER_AGENT = "SmartSlot-Webhooks/1"


class WebhookSender:
    """POSTs signed bodies; 2xx is delivered, 410 means the endpoint is gone, a refused destination is not called,
    anything else is retried."""

    def __init__(self, session: aiohttp.ClientSession, timeout_seconds: float, destinations: Destinations) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._destinations = destinations

    async def send(self, url: str, secrets: Sequence[str], message_id: str, body: str) -> Attempt:
        problem = self._destinations.static_problem(url)
        if problem:
            return Attempt(Outcome.REFUSED, None, f"refused: {problem}")
        data = body.encode()
        headers = signed_headers(secrets, message_id, int(time.time()), data) | {"user-agent": USER_AGENT}
        try:
            async with self._session.post(
                url, data=data, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
            refused = refusal(error)
            if refused is not None:
                return Attempt(Outcome.REFUSED, None, f"refused: {refused}")
            return Attempt(Outcome.TRANSIENT, None, describe(error) or type(error).__name__)
        if 200 <= status < 300:
            return Attempt(Outcome.SENT, status)
        if status == 410:
            return Attempt(Outcome.GONE, status, "410 Gone")
        return Attempt(Outcome.TRANSIENT, status, f"HTTP {status}")
