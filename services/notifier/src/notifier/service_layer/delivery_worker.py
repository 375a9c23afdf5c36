"""Send queued deliveries after their transaction commits, and retry what failed, from the `deliveries` table.

One loop claims what is due (`FOR UPDATE SKIP LOCKED` and a lease, so any number of notifier processes share the
work and each attempt is made by one of them) and sends each claimed delivery beside the others, up to
`delivery_batch_size` in flight. It is woken by the commit that queued a delivery (`wake`), so an email leaves
within milliseconds; otherwise it polls every `delivery_poll_interval_seconds` for retries and for what a crash
left behind. An event's email is written already claimed by the process that wrote it and handed over after the
commit (`send_leased`): no claim statement for it; one that waits here past half its lease is left to the lease's
end and whoever claims it then. Sent emails are marked in one statement for all that finished within
`MARK_LINGER_SECONDS` of the first (a statement and its commit per ten emails at 200/s rather than per one or two).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Iterable
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
from smartslot_common.jobs import Job
from smartslot_common.logging import get_logger
from smartslot_common.messaging.errors import describe

log = get_logger(__name__)
JOB_NAME = "delivery-worker"  # its `background_job` label on smartslot_job_last_success_timestamp_seconds
_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
# How long a sent email's mark waits for the ones right behind it. A crash within it sends those emails again when
# their leases end (with the same Message-ID), as a crash between a send and its mark always could.
MARK_LINGER_SECONDS = 0.05


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
        self._job = Job(JOB_NAME, settings.delivery_poll_interval_seconds, self._pass)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._sent = _SentMarks(pool, MARK_LINGER_SECONDS)
        self._pending_measured = 0.0
        self._leased: deque[tuple[Claimed, float]] = deque()  # handed over, with when to give them up (monotonic)
        self._claim_wanted = True  # by a commit, a failed pass, or a claim that found more with room left
        self._handed_over = False  # the next pass was asked for by `send_leased`

    def wake(self) -> None:
        """Deliveries were just committed: claim them now rather than at the next poll."""
        self._claim_wanted = True
        self._job.wake()

    def send_leased(self, items: Iterable[Claimed]) -> None:
        """Deliveries this process wrote already claimed (their transaction has committed): send them, no claim."""
        give_up_at = time.monotonic() + self._settings.delivery_lease_seconds / 2
        self._leased.extend((item, give_up_at) for item in items)
        self._handed_over = True
        self._job.wake()

    def _start_leased(self) -> None:
        """Start the handed-over deliveries there is room for; drop those kept too long (their lease will end)."""
        now = time.monotonic()
        while self._leased and len(self._in_flight) < self._settings.delivery_batch_size:
            item, give_up_at = self._leased.popleft()
            if give_up_at > now:
                self._start(item)

    def _start(self, item: Claimed) -> None:
        task = asyncio.create_task(self._deliver(item), name=f"delivery-{item.id}")
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    async def process_due(self) -> int:
        """Claim due deliveries (as many as there is room for) and start sending them; the number claimed."""
        room = self._settings.delivery_batch_size - len(self._in_flight)
        if room <= 0:
            return 0
        claimed = await deliveries.claim_due(self._pool, room, self._settings.delivery_lease_seconds)
        for item in claimed:
            self._start(item)
        return len(claimed)

    async def run(self) -> None:
        """Claim and send until stopped, then let what is in flight finish."""
        await self._job.run()
        await self.drain()

    async def _pass(self) -> bool:
        """Start the handed-over deliveries, claim due ones unless only a hand-over asked for this pass (the poll:
        retries come due, and what a crash left behind), measure the backlog now and then; whether more may be
        due with room left for them."""
        handed_over, self._handed_over = self._handed_over, False
        self._start_leased()
        try:
            claimed = 0
            if self._claim_wanted or not handed_over:
                self._claim_wanted = False  # before claiming, so a commit during the claim still asks for the next
                claimed = await self.process_due()
            await self._measure_pending()
        except Exception:
            self._claim_wanted = True  # the next pass tries again
            raise
        more = bool(claimed) and len(self._in_flight) < self._settings.delivery_batch_size
        self._claim_wanted = self._claim_wanted or more
        return more

    async def drain(self) -> None:
        """Wait for the deliveries in flight and their marks."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))
        await self._sent.flushed()

    def stop(self) -> None:
        """Claim nothing more; `run` returns once the deliveries in flight are done."""
        self._job.stop()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # A bug (send and record failures are handled inside); the lease brings the delivery back.
            log.error("delivery task crashed", error=describe(error), exc_info=error)
        if len(self._in_flight) == self._settings.delivery_batch_size - 1:
            self.wake()  # there is room again: handed-over deliveries first, then claims

    async def _measure_pending(self) -> None:
        now = time.monotonic()
        if now - self._pending_measured >= self._settings.delivery_poll_interval_seconds:
            self._pending_measured = now
            pending, overdue = await deliveries.backlog(self._pool)
            metrics.DELIVERIES_PENDING.set(pending)
            metrics.DELIVERIES_OVERDUE.set(overdue)

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
            if attempt.outcome is Outcome.SENT and item.endpoint_id is None:
                await self._sent.mark(item.id, attempt.code)
                self._count(item, attempt, "sent")
            else:
                await self._record(item, attempt)
        except _DATABASE_ERRORS as error:
            # The lease runs out and the delivery is tried again, with the same Message-ID / webhook-id.
            log.error("could not record a delivery attempt", delivery_id=str(item.id), error=describe(error))

    async def _attempt(self, item: Claimed) -> Attempt:
        if item.channel == "email":
            return await self._email.send(Email.from_content(item.content), item.message_id, item.created_at)
        assert item.secret is not None
        secrets = [item.secret] + ([item.previous_secret] if item.previous_secret else [])
        return await self._webhooks.send(item.recipient, secrets, item.message_id, item.content["body"])

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
    if attempt.outcome in (Outcome.GONE, Outcome.REFUSED):
        return attempt.outcome.value
    if attempt.code is None:
        return "network"
    return "http_4xx" if attempt.code < 500 else "http_5xx"


class _SentMarks:
    """Marks sent deliveries: one statement for every delivery that finished within `linger` of the first one, or
    while the previous statement ran."""

    def __init__(self, pool: asyncpg.Pool, linger: float) -> None:
        self._pool = pool
        self._linger = linger
        self._waiting: dict[uuid.UUID, int | None] = {}
        self._next: asyncio.Future[None] | None = None  # settled by the statement that takes `_waiting`
        self._flusher: asyncio.Task[None] | None = None

    async def mark(self, delivery_id: uuid.UUID, code: int | None) -> None:
        """Mark one delivery sent, together with the others waiting; raise if its statement failed."""
        self._waiting[delivery_id] = code
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        batch = self._next
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(batch)

    async def flushed(self) -> None:
        """Wait until every mark asked for so far was written (or failed)."""
        if self._flusher is not None:
            await asyncio.wait({self._flusher})

    async def _flush(self) -> None:
        while self._waiting:
            await asyncio.sleep(self._linger)  # for the marks right behind the first
            marks, batch = self._waiting, self._next
            self._waiting, self._next = {}, None
            assert batch is not None
            try:
                await deliveries.mark_sent_many(self._pool, list(marks), list(marks.values()))
            except Exception as error:
                batch.set_exception(error)
                batch.exception()  # retrieved by the waiters; no "never retrieved" noise if they are gone
            else:
                batch.set_result(None)
