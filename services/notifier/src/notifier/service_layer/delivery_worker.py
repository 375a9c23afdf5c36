"""Send queued deliveries after their transaction commits, and retry what failed, from the `deliveries` table.

Two ways in: `send_now(ids)` right after a commit (the fast path), and a poller that claims whatever is due
(retries, and anything a crash left behind). Both claim rows with `FOR UPDATE SKIP LOCKED` and a lease, so any
number of notifier processes share the work and each attempt is made by one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from notifier import metrics
from notifier.adapters import deliveries, webhook_endpoints
from notifier.adapters.deliveries import Claimed
from notifier.domain.deliveries import Attempt, Outcome, after_attempt, disable_reason
from notifier.domain.emails import Email
from notifier.domain.retries import Backoff
from notifier.service_layer.ports import EmailSender, WebhookCaller
from notifier.settings import NotifierSettings
from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging.errors import describe

log = get_logger(__name__)


class DeliveryWorker:
    """Claims, sends and records deliveries."""

    def __init__(
        self, pool: asyncpg.Pool, settings: NotifierSettings, email: EmailSender, webhooks: WebhookCaller
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._email = email
        self._webhooks = webhooks
        self._backoff = Backoff(settings.delivery_retry_base_seconds, settings.delivery_retry_cap_seconds)
        self._stopping = asyncio.Event()

    async def send_now(self, ids: list[uuid.UUID]) -> None:
        """Send these freshly committed deliveries unless someone else already holds them."""
        if ids:
            await self._deliver_all(await deliveries.claim(self._pool, ids, self._settings.delivery_lease_seconds))

    async def process_due(self) -> int:
        """Claim one batch of due deliveries and send them; the number claimed."""
        settings = self._settings
        claimed = await deliveries.claim_due(self._pool, settings.delivery_batch_size, settings.delivery_lease_seconds)
        await self._deliver_all(claimed)
        return len(claimed)

    async def run(self) -> None:
        """Poll until stopped: a full batch is followed at once by the next, otherwise wait one interval."""
        while not self._stopping.is_set():
            claimed = 0
            try:
                claimed = await self.process_due()
                metrics.DELIVERIES_PENDING.set(await deliveries.pending_count(self._pool))
            except Exception as error:  # the loop outlives any one pass: a dead poller would send nothing more
                log.exception("delivery poll failed; trying again", error=describe(error))
            if claimed < self._settings.delivery_batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._settings.delivery_poll_interval_seconds)

    def stop(self) -> None:
        """Finish the batch in hand, then return from `run`."""
        self._stopping.set()

    async def _deliver_all(self, claimed: list[Claimed]) -> None:
        if claimed:
            await asyncio.gather(*(self._deliver(item) for item in claimed))

    async def _deliver(self, item: Claimed) -> None:
        if item.channel == "webhook" and not item.endpoint_enabled:
            async with self._pool.acquire() as connection:
                await deliveries.mark_failed(connection, item.id, None, "endpoint disabled")
            metrics.NOTIFICATIONS.labels(item.channel, "failed").inc()
            return
        started = time.perf_counter()
        try:
            attempt = await self._attempt(item)
        except Exception as error:  # a bug in building the message: recorded and retried, never lost
            log.exception("delivery attempt crashed", delivery_id=str(item.id))
            attempt = Attempt(Outcome.TRANSIENT, None, f"internal error: {describe(error)}")
        metrics.DELIVERY_SEND_DURATION.labels(item.channel).observe(time.perf_counter() - started)
        metrics.DELIVERY_ATTEMPTS.labels(item.channel, attempt.outcome.value).inc()
        try:
            await self._record(item, attempt)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            # The lease runs out and the delivery is tried again, with the same Message-ID / webhook-id.
            log.error("could not record a delivery attempt", delivery_id=str(item.id), error=describe(error))

    async def _attempt(self, item: Claimed) -> Attempt:
        if item.channel == "email":
            return await self._email.send(Email.from_content(item.content), item.message_id, item.created_at)
        assert item.secret is not None
        return await self._webhooks.send(item.recipient, item.secret, item.message_id, item.content["body"])

    async def _record(self, item: Claimed, attempt: Attempt) -> None:
        outcome = after_attempt(attempt, item.attempts, item.max_attempts, self._backoff)
        async with self._pool.acquire() as connection, connection.transaction():
            if outcome.status == "sent":
                await deliveries.mark_sent(connection, item.id, attempt.code)
            elif outcome.status == "pending":
                assert outcome.delay is not None
                await deliveries.retry_later(connection, item.id, outcome.delay, attempt.code, attempt.error)
            else:
                await deliveries.mark_failed(connection, item.id, attempt.code, attempt.error)
            if item.endpoint_id is not None:
                await self._endpoint_bookkeeping(connection, item.endpoint_id, attempt)
        self._count(item, attempt, outcome.status)

    async def _endpoint_bookkeeping(
        self, connection: Connection, endpoint_id: uuid.UUID, attempt: Attempt
    ) -> None:
        if attempt.outcome is Outcome.SENT:
            await webhook_endpoints.record_success(connection, endpoint_id)
            return
        failures = await webhook_endpoints.record_failure(connection, endpoint_id)
        reason = disable_reason(attempt, failures, self._settings.webhook_disable_after_failures)
        if reason and await webhook_endpoints.disable(connection, endpoint_id, reason):
            given_up = await deliveries.fail_pending_of_endpoint(
                connection, endpoint_id, f"endpoint disabled: {reason}"
            )
            cause = "gone" if attempt.outcome is Outcome.GONE else "failures"
            metrics.WEBHOOK_ENDPOINTS_DISABLED.labels(cause).inc()
            log.warning("webhook endpoint disabled", endpoint_id=str(endpoint_id), reason=reason,
                        pending_given_up=given_up)

    def _count(self, item: Claimed, attempt: Attempt, status: str) -> None:
        if item.channel == "webhook" and attempt.outcome is not Outcome.SENT:
            metrics.WEBHOOK_FAILURES.labels(_webhook_failure_reason(attempt)).inc()
        if status == "sent":
            metrics.NOTIFICATIONS.labels(item.channel, "sent").inc()
            metrics.DELIVERY_LATENCY.labels(item.channel).observe(
                max(0.0, (datetime.now(UTC) - item.created_at).total_seconds())
            )
        elif status == "failed":
            metrics.NOTIFICATIONS.labels(item.channel, "failed").inc()
            log.warning("delivery failed for good", delivery_id=str(item.id), channel=item.channel,
                        attempts=item.attempts, error=attempt.error)
        else:
            log.info("delivery will be retried", delivery_id=str(item.id), channel=item.channel,
                     attempts=item.attempts, error=attempt.error)


def _webhook_failure_reason(attempt: Attempt) -> str:
    if attempt.outcome is Outcome.GONE:
        return "gone"
    if attempt.code is None:
        return "network"
    return "http_4xx" if attempt.code < 500 else "http_5xx"
