"""Consume one service's queue: apply the events in hand together, each once, retry failures through TTL tiers,
dead-letter the rest.

Deliveries are buffered as they arrive and taken in batches by a few workers: what is in hand (up to a share of the
prefetch) is applied at once (one transaction and one inbox insert, see `applying`) and acknowledged with
`multiple` acks (see `acks`). Several batches are applied at the same time, so the database's round trips of one do
not hold up the next. A batch that fails is applied again one event at a time, so only the failing event is retried
or dead-lettered.

Dead letters are published to the dead-letter exchange with publisher confirms before the message is acknowledged
(at-least-once whatever the queue type). On a classic queue the consumer also bounds poison messages, as a quorum
queue's delivery limit does: a message that comes back unsettled (`redelivered`, after its consumer died or lost its
channel holding it) is put back at the end of the queue (through the first retry tier) with its count in a header,
and dead-lettered once it came back more than `delivery_limit` times.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Mapping, Sequence

import asyncpg
import structlog
from aio_pika import Message
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from smartslot_common.contracts.events import always_routed_types
from smartslot_common.jobs import being_cancelled
from smartslot_common.logging import get_logger
from smartslot_common.messaging.acks import Acknowledgements
from smartslot_common.messaging.applying import (
    AfterCommit,
    Applied,
    Applier,
    DatabaseUnavailable,
    Delivery,
    DirectApplier,
    Handler,
    IdempotentHandler,
    InboxApplier,
)
from smartslot_common.messaging.deliveries import (
    BROKER_ERRORS,
    DEAD_LETTER_REASON_HEADER,
    REDELIVERIES_HEADER,
    copy_of,
    failed_attempts,
    redeliveries,
    retry_copy,
    settle,
)
from smartslot_common.messaging.envelope import Event, InvalidEnvelope, events_of
from smartslot_common.messaging.errors import PermanentError, describe
from smartslot_common.messaging.topology import (
    DEFAULT_QUEUE_TYPE,
    DELIVERY_LIMIT,
    RETRY_DELAYS,
    QueueType,
    dead_letter_exchange_name,
    dead_letter_queue_name,
    declare_consumer_queues,
    queue_name,
    retry_queue_name,
)
from smartslot_common.metrics import CONSUMER_SUBSCRIBED, EVENT_HANDLE_DURATION, EVENTS_CONSUMED, QUEUE_MESSAGES

__all__ = ["AfterCommit", "EventConsumer", "Handler", "Handlers", "IdempotentHandler"]

# Per-event handlers applied in the inbox transaction, or one idempotent handler applied without one.
Handlers = Mapping[str, Handler] | IdempotentHandler

APPLIED, DUPLICATE, RETRIED, DEAD_LETTERED, IGNORED = "applied", "duplicate", "retried", "dead_lettered", "ignored"
REQUEUED = "requeued"  # came back unsettled: put back in the queue with its count

log = get_logger(__name__)
_DATABASE_WAIT_CAP_SECONDS = 30.0
QUEUE_DEPTH_INTERVAL_SECONDS = 15.0
MOVE_TIMEOUT_SECONDS = 10.0  # the broker's confirm of a retry or dead-letter copy


class EventConsumer:
    """Consumes `consumer`'s queue and applies each event with exactly-once effect in the service's database."""

    def __init__(
        self,
        amqp_connection: AbstractConnection,
        pool: asyncpg.Pool,
        consumer: str,
        namespace: str,
        handlers: Handlers,
        prefetch: int = 32,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        queue_type: QueueType = DEFAULT_QUEUE_TYPE,
        delivery_limit: int = DELIVERY_LIMIT,
        workers: int = 4,
        linger: float = 0.0,
    ) -> None:
        self._connection = amqp_connection
        self._consumer = consumer
        self._namespace = namespace
        queue = queue_name(namespace, consumer)
        self._applier: Applier = (
            DirectApplier(consumer, queue, handlers) if isinstance(handlers, IdempotentHandler)
            else InboxApplier(pool, consumer, queue, handlers)
        )
        self._prefetch = prefetch
        self._retry_delays = tuple(retry_delays)
        self._queue_type = queue_type
        # A quorum queue bounds redeliveries itself (x-delivery-limit); on a classic one the consumer counts them.
        self._redelivery_limit = delivery_limit if queue_type == "classic" else None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._workers = workers
        self._batch_size = max(1, prefetch // workers)  # so that the prefetch keeps every worker busy
        self._linger = linger
        self._gathering = asyncio.Lock()
        self._buffer: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
        self._running: set[asyncio.Task[None]] = set()
        self._acks = Acknowledgements()
        self._after_commit: set[asyncio.Task[None]] = set()
        self._depth_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open a channel, (re)declare this consumer's queues and start consuming."""
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._running = {
            asyncio.create_task(self._work(), name=f"consumer-{self._consumer}-{number}")
            for number in range(self._workers)
        }
        try:
            await self._channel.set_qos(prefetch_count=self._prefetch)
            # Redeclaring with this consumer's retry delays fails loudly if they differ from the declared topology.
            self._queue = await declare_consumer_queues(
                self._channel, self._namespace, self._consumer, self._retry_delays, self._queue_type
            )
            self._consumer_tag = await self._queue.consume(self._on_message)
        except BaseException:
            await self.stop()
            raise
        self._depth_task = asyncio.create_task(self._watch_queue_depth(), name=f"queue-depth-{self._consumer}")
        for event_type in always_routed_types(self._consumer):
            CONSUMER_SUBSCRIBED.labels(self._consumer, event_type).set(1)
        log.info("consuming events", consumer=self._consumer, queue=self._queue.name)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, give the ones in hand `timeout` seconds to finish, and close the channel."""
        if self._depth_task is not None:
            self._depth_task.cancel()
            await asyncio.wait({self._depth_task}, timeout=timeout)  # bounded: the shutdown must end
            self._depth_task = None
        if self._queue is not None and self._consumer_tag is not None:
            with contextlib.suppress(*BROKER_ERRORS):  # TimeoutError among them: a broker that does not answer
                await asyncio.wait_for(self._queue.cancel(self._consumer_tag), timeout)
        await self._finish_in_hand(timeout)
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(*BROKER_ERRORS):
                await asyncio.wait_for(self._channel.close(), timeout)
        self._channel = self._queue = self._consumer_tag = None

    async def measure_queue_depth(self) -> None:
        """Set the main and dead-letter queue depth gauges from a passive declare on a channel of its own (a
        failed passive declare closes its channel, which must not be the consuming one)."""
        queues = {"main": queue_name(self._namespace, self._consumer),
                  "dead_letter": dead_letter_queue_name(self._namespace, self._consumer)}
        async with self._connection.channel() as channel:
            for kind, name in queues.items():
                queue = await channel.declare_queue(name, passive=True)
                count = queue.declaration_result.message_count  # declare-ok always carries it; typed optional
                if count is not None:
                    QUEUE_MESSAGES.labels(self._consumer, kind).set(count)

    async def _watch_queue_depth(self) -> None:
        while True:
            try:
                await self.measure_queue_depth()
            except BROKER_ERRORS as error:  # an outage: the gauges keep their last value
                if being_cancelled():
                    # Cancelled while opening its channel, aio-pika can answer with an error of its own instead of
                    # the cancellation (seen: a service's shutdown waited for ever on this watch, which had gone
                    # back to sleep): the watch must end all the same.
                    raise asyncio.CancelledError from error
                log.debug("queue depth not measured", error=describe(error))
            await asyncio.sleep(QUEUE_DEPTH_INTERVAL_SECONDS)

    async def _finish_in_hand(self, timeout: float) -> None:
        """Let the workers apply what is buffered (what is left unacked goes back to the queue when the channel
        closes) and the after-commit actions finish, within `timeout`."""
        workers, self._running = self._running, set()
        self._buffer.put_nowait(None)  # behind what is buffered: every worker ends when it comes to it
        if workers or self._after_commit:
            _, pending = await asyncio.wait({*workers, *self._after_commit}, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                _, stuck = await asyncio.wait(pending, timeout=timeout)
                if stuck:  # never seen to end: the channel's close below gives their messages back to the queue
                    log.error("consumer_tasks_did_not_stop", consumer=self._consumer, tasks=len(stuck))
        self._buffer = asyncio.Queue()
        self._acks.forget()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._acks.received(message)
        self._buffer.put_nowait(message)

    async def _work(self) -> None:
        while batch := await self._next_batch():
            try:
                await self._process(batch)
            except Exception:  # a bug; the batch's unsettled messages come back when the channel closes
                if being_cancelled():  # a cancellation a library answered with an error of its own: stop all the same
                    raise asyncio.CancelledError from None
                log.exception("batch processing crashed", consumer=self._consumer, messages=len(batch))

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        """The next batch: the first message to come and what follows it within `linger` seconds, up to the batch
        size; empty when the consumer stops. One worker gathers at a time, so that a quiet stream still makes
        batches rather than one message for each idle worker."""
        async with self._gathering:
            batch: list[AbstractIncomingMessage] = []
            deadline = None
            while len(batch) < self._batch_size:
                if self._buffer.empty() and batch:
                    deadline = deadline or asyncio.get_running_loop().time() + self._linger
                    try:
                        async with asyncio.timeout_at(deadline):
                            message = await self._buffer.get()
                    except TimeoutError:
                        break
                else:
                    message = await self._buffer.get()
                if message is None:
                    self._buffer.put_nowait(None)  # for the next worker (and this one's next call)
                    break
                batch.append(message)
            return batch

    async def _process(self, messages: Sequence[AbstractIncomingMessage]) -> None:
        started = time.perf_counter()
        handled: list[Delivery] = []
        ignored: list[tuple[AbstractIncomingMessage, str]] = []
        for message in messages:
            if message.redelivered and self._redelivery_limit is not None:
                await self._count_redelivery(message, self._redelivery_limit, started)
                continue
            try:
                events = events_of(message.body)
            except InvalidEnvelope as error:
                log.error("undecodable message dead-lettered", consumer=self._consumer,
                          message_id=message.message_id, error=str(error))
                await self._dead_letter(message, "invalid")
                self._count("invalid", DEAD_LETTERED, started)
                continue
            for event in events:
                if self._applier.handles(event.type):
                    handled.append((message, event))
                else:
                    ignored.append((message, event.type))
        if len(handled) > 1:
            applied = await self._apply_batch(handled)
        else:
            applied = None
        if applied is None:  # one event, or a batch that failed: each event on its own
            for _, delivered in itertools.groupby(handled, key=lambda delivery: id(delivery[0])):
                await self._handle_message([*delivered], started)
            await self._acks.applied(message for message, _ in ignored)
        else:
            await self._acks.applied(message for message, _ in [*handled, *ignored])
            fresh = set(applied.applied)
            for _, event in handled:
                self._count(event.type, APPLIED if event.id in fresh else DUPLICATE, started)
                fresh.discard(event.id)  # a second copy in the same batch is a duplicate
            self._after(applied.after_commit)
        for _, event_type in ignored:
            self._count(event_type, IGNORED, started)

    async def _apply_batch(self, deliveries: Sequence[Delivery]) -> Applied | None:
        """Apply the batch together; None when any event of it failed (then nothing of it was applied)."""
        try:
            return await self._waiting_for_database(deliveries)
        except Exception as error:
            log.info("batch failed; applying its events one by one", consumer=self._consumer,
                     events=len(deliveries), error=describe(error))
            return None

    async def _handle_message(self, deliveries: Sequence[Delivery], started: float) -> None:
        """Apply a message's events one by one; settle the message once they all are (applied, or their copies
        taken by a retry tier or the dead letters), or put it back whole should the broker not take a copy."""
        message = deliveries[0][0]
        alone = len(deliveries) == 1  # then the message itself is retried or dead-lettered
        taken = True
        for _, event in deliveries:
            with structlog.contextvars.bound_contextvars(
                consumer=self._consumer, event_id=str(event.id), event_type=event.type
            ):
                outcome = await self._handle(message, event, alone)
            taken = taken and outcome is not None
            self._count(event.type, outcome or REQUEUED, started)
        if alone:
            return
        if taken:
            await self._acks.applied([message])
        else:
            await settle(message.nack(requeue=True))  # its events come again; the inbox drops the applied ones
            await self._acks.settled(message)

    async def _handle(self, message: AbstractIncomingMessage, event: Event, alone: bool) -> str | None:
        """Apply one event of `message` (the only one when `alone`); the outcome, or None when the event failed
        and the broker did not take its copy (a retry or a dead letter)."""
        part = None if alone else event
        try:
            applied = await self._waiting_for_database([(message, event)])
        except PermanentError as error:
            log.error("handler refused the event for good; dead-lettered", error=str(error))
            return DEAD_LETTERED if await self._dead_letter(message, "rejected", part) else None
        except Exception as error:  # any handler failure is retried; its transaction has rolled back
            return await self._retry_later(message, error, part)
        if alone:
            await self._acks.applied([message])
        self._after(applied.after_commit)
        return APPLIED if applied.applied else DUPLICATE

    async def _waiting_for_database(self, deliveries: Sequence[Delivery]) -> Applied:
        delay = 0.25
        while True:
            try:
                return await self._applier.apply(deliveries)
            except DatabaseUnavailable as error:
                # The messages stay unacked meanwhile; a stop() or a lost channel cancels the wait.
                log.warning(
                    "database unavailable; waiting to apply the events",
                    error=describe(error.__cause__),
                    retry_in_seconds=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _DATABASE_WAIT_CAP_SECONDS)

    def _after(self, actions: Sequence[AfterCommit]) -> None:
        """Run after-commit actions beside the consumer (a slow one must not hold up the next batch)."""
        for action in actions:
            task = asyncio.create_task(_run_after_commit(action))
            self._after_commit.add(task)
            task.add_done_callback(self._after_commit.discard)

    def _count(self, event_type: str, outcome: str, started: float) -> None:
        EVENTS_CONSUMED.labels(self._consumer, event_type, outcome).inc()
        EVENT_HANDLE_DURATION.labels(self._consumer).observe(time.perf_counter() - started)

    async def _retry_later(self, message: AbstractIncomingMessage, error: Exception, part: Event | None) -> str | None:
        attempt = failed_attempts(message) + 1
        if attempt > len(self._retry_delays):
            log.error("event failed on every retry; dead-lettered", attempts=attempt, error=describe(error))
            return DEAD_LETTERED if await self._dead_letter(message, "exhausted", part) else None
        log.warning(
            "handler failed; event will be retried",
            attempt=attempt,
            retry_in_seconds=self._retry_delays[attempt - 1],
            error=describe(error),
            exc_info=error,
        )
        taken = await self._move(message, retry_copy(message, attempt, part), "",
                                 self._retry_queue(attempt), settling=part is None)
        return RETRIED if taken else None

    def _retry_queue(self, attempt: int) -> str:
        return retry_queue_name(self._namespace, self._consumer, attempt)

    async def _count_redelivery(self, message: AbstractIncomingMessage, limit: int, started: float) -> None:
        """A message back unsettled: to the end of the queue with its count, or to the dead letters past `limit`."""
        count = redeliveries(message) + 1
        event_type = message.type or "unknown"
        if count > limit:
            log.error("message came back unsettled too often (it may crash its consumer); dead-lettered",
                      consumer=self._consumer, message_id=message.message_id, redeliveries=count)
            await self._dead_letter(message, "delivery_limit")
            self._count(event_type, DEAD_LETTERED, started)
            return
        # Through the first retry tier rather than straight back: the copy must not reach a worker (and maybe crash
        # the process again) before this message is acknowledged, or both would come back.
        back = self._retry_queue(1) if self._retry_delays else queue_name(self._namespace, self._consumer)
        await self._move(message, copy_of(message, {REDELIVERIES_HEADER: count}), "", back)
        self._count(event_type, REQUEUED, started)

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str, part: Event | None = None) -> bool:
        """Dead-letter the message, or only its event `part`; whether the broker took it."""
        copy = copy_of(message, {DEAD_LETTER_REASON_HEADER: reason}, part)
        return await self._move(message, copy, dead_letter_exchange_name(self._namespace), self._consumer,
                                settling=part is None)

    async def _move(self, message: AbstractIncomingMessage, copy: Message, exchange: str, routing_key: str,
                    settling: bool = True) -> bool:
        """Publish `copy` (confirmed); whether the broker took it. When `settling` (the copy is the whole message),
        then acknowledge `message`, or put it back, so that it comes again, should the broker not take the copy."""
        try:
            assert self._channel is not None
            target = (self._channel.default_exchange if not exchange
                      else await self._channel.get_exchange(exchange, ensure=False))
            # Bounded: a publish to an exchange that is gone closes the channel, and its confirm never comes.
            await asyncio.wait_for(target.publish(copy, routing_key=routing_key, mandatory=True),
                                   MOVE_TIMEOUT_SECONDS)
        except BROKER_ERRORS as error:
            log.warning("could not move the message; the broker will redeliver it", error=describe(error))
            taken = False
        else:
            taken = True
        if settling:
            await settle(message.ack() if taken else message.nack(requeue=True))
            await self._acks.settled(message)
        return taken


async def _run_after_commit(after_commit: AfterCommit) -> None:
    try:
        await after_commit()
    except Exception:  # not retried: the handler persisted what a later pass needs to finish the work
        log.exception("after-commit action failed")
