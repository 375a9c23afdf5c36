"""Consume one service's queue: apply each event once (inbox), retry through TTL tiers, dead-letter the rest."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import AMQPError
from opentelemetry import propagate, trace

from smartslot_common.logging import get_logger
from smartslot_common.messaging.envelope import Event, InvalidEnvelope
from smartslot_common.messaging.errors import PermanentError
from smartslot_common.messaging.topology import (
    RETRY_DELAYS,
    declare_consumer_queues,
    exchange_name,
    queue_name,
    retry_queue_name,
)
from smartslot_common.metrics import EVENT_HANDLE_DURATION, EVENTS_CONSUMED

AfterCommit = Callable[[], Awaitable[None]]
Handler = Callable[[asyncpg.Connection, Event], Awaitable[AfterCommit | None]]

ATTEMPT_HEADER = "smartslot-attempt"
APPLIED, DUPLICATE, RETRIED, DEAD_LETTERED, IGNORED = "applied", "duplicate", "retried", "dead_lettered", "ignored"

log = get_logger(__name__)
_tracer = trace.get_tracer(__name__)
# Failures of the broker while settling a message: the broker redelivers it, and the inbox drops the copy.
_BROKER_ERRORS = (AMQPError, ConnectionError, OSError, RuntimeError, TimeoutError)
# The database itself is gone (not the handler's fault): wait for it instead of burning through the retry tiers.
_DATABASE_GONE = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)
_DATABASE_WAIT_CAP_SECONDS = 30.0


class _DatabaseUnavailable(Exception):
    pass


class EventConsumer:
    """Consumes `consumer`'s queue and applies each event with exactly-once effect in the service's database."""

    def __init__(
        self,
        amqp_connection: AbstractConnection,
        pool: asyncpg.Pool,
        consumer: str,
        namespace: str,
        handlers: Mapping[str, Handler],
        prefetch: int = 32,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self._connection = amqp_connection
        self._pool = pool
        self._consumer = consumer
        self._namespace = namespace
        self._handlers = dict(handlers)
        self._prefetch = prefetch
        self._retry_delays = tuple(retry_delays)
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Open a channel, (re)declare this consumer's queues and start consuming."""
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        await self._channel.set_qos(prefetch_count=self._prefetch)
        # Redeclaring with this consumer's retry delays fails loudly if they differ from the declared topology.
        self._queue = await declare_consumer_queues(
            self._channel, self._namespace, self._consumer, self._retry_delays
        )
        self._consumer_tag = await self._queue.consume(self._on_message)
        log.info("consuming events", consumer=self._consumer, queue=self._queue.name)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, give the ones in hand `timeout` seconds to finish, and close the channel."""
        if self._queue is not None and self._consumer_tag is not None:
            with contextlib.suppress(*_BROKER_ERRORS):
                await self._queue.cancel(self._consumer_tag)
        await self._finish_in_flight(timeout)
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(*_BROKER_ERRORS):
                await self._channel.close()
        self._channel = self._queue = self._consumer_tag = None

    async def _finish_in_flight(self, timeout: float) -> None:
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(self._in_flight, timeout=timeout)
        for task in pending:  # unacked: the broker redelivers them once the channel closes
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        started = time.perf_counter()
        try:
            event_type, outcome = await self._process(message)
            EVENTS_CONSUMED.labels(self._consumer, event_type, outcome).inc()
        finally:
            EVENT_HANDLE_DURATION.labels(self._consumer).observe(time.perf_counter() - started)
            self._in_flight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> tuple[str, str]:
        try:
            event = Event.from_json(message.body)
        except InvalidEnvelope as error:
            log.error("undecodable message dead-lettered", consumer=self._consumer,
                      message_id=message.message_id, error=str(error))
            await _settle(message.reject(requeue=False))
            return "invalid", DEAD_LETTERED
        handler = self._handlers.get(event.type)
        if handler is None:
            await _settle(message.ack())
            return event.type, IGNORED
        with structlog.contextvars.bound_contextvars(
            consumer=self._consumer, event_id=str(event.id), event_type=event.type
        ), self._span(message, event):
            return event.type, await self._handle(message, event, handler)

    async def _handle(self, message: AbstractIncomingMessage, event: Event, handler: Handler) -> str:
        try:
            applied, after_commit = await self._apply_waiting_for_database(event, handler)
        except PermanentError as error:
            _record_failure(error)
            log.error("handler refused the event for good; dead-lettered", error=str(error))
            await _settle(message.reject(requeue=False))
            return DEAD_LETTERED
        except Exception as error:  # any handler failure is retried; its transaction has rolled back
            _record_failure(error)
            return await self._retry_later(message, error)
        await _settle(message.ack())
        if after_commit is not None:
            await _run_after_commit(after_commit)
        return APPLIED if applied else DUPLICATE

    async def _apply_waiting_for_database(self, event: Event, handler: Handler) -> tuple[bool, AfterCommit | None]:
        delay = 0.5
        while True:
            try:
                return await self._apply(event, handler)
            except _DatabaseUnavailable as error:
                # The message stays unacked meanwhile; a stop() or a lost channel cancels the wait.
                log.warning("database unavailable; waiting to apply the event", error=str(error.__cause__),
                            retry_in_seconds=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _DATABASE_WAIT_CAP_SECONDS)

    async def _apply(self, event: Event, handler: Handler) -> tuple[bool, AfterCommit | None]:
        try:
            connection = await self._pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise _DatabaseUnavailable from error
        try:
            async with connection.transaction():
                if not await self._claim(connection, event):
                    return False, None  # applied before: a redelivery or a duplicate publication
                return True, await handler(connection, event)
        except _DATABASE_GONE as error:
            raise _DatabaseUnavailable from error
        finally:
            await self._pool.release(connection)

    async def _claim(self, connection: asyncpg.Connection, event: Event) -> bool:
        claimed = await connection.fetchval(
            "INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true",
            self._consumer,
            event.id,
            event.type,
        )
        return bool(claimed)

    async def _retry_later(self, message: AbstractIncomingMessage, error: Exception) -> str:
        attempt = _attempt(message) + 1
        if attempt > len(self._retry_delays):
            log.error("event failed on every retry; dead-lettered", attempts=attempt, error=_describe(error))
            await _settle(message.reject(requeue=False))
            return DEAD_LETTERED
        log.warning("handler failed; event will be retried", attempt=attempt,
                    retry_in_seconds=self._retry_delays[attempt - 1], error=_describe(error), exc_info=error)
        try:
            assert self._channel is not None
            await self._channel.default_exchange.publish(
                _retry_copy(message, attempt), routing_key=self._retry_queue(attempt), mandatory=True
            )
        except _BROKER_ERRORS as publish_error:
            log.warning("could not schedule the retry; the broker will redeliver", error=_describe(publish_error))
            await _settle(message.nack(requeue=True))
            return RETRIED
        await _settle(message.ack())
        return RETRIED

    def _retry_queue(self, attempt: int) -> str:
        return retry_queue_name(self._namespace, self._consumer, attempt)

    @contextlib.contextmanager
    def _span(self, message: AbstractIncomingMessage, event: Event) -> Iterator[trace.Span]:
        carrier = {"traceparent": _header(message, "traceparent") or event.traceparent or ""}
        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.operation": "process",
            "messaging.destination.name": exchange_name(self._namespace),
            "messaging.rabbitmq.destination.routing_key": event.type,
            "messaging.message.id": str(event.id),
            "messaging.consumer.group.name": queue_name(self._namespace, self._consumer),
        }
        with _tracer.start_as_current_span(
            f"process {event.type}", context=propagate.extract(carrier), kind=trace.SpanKind.CONSUMER,
            attributes=attributes,
        ) as span:
            yield span


def _attempt(message: AbstractIncomingMessage) -> int:
    """How many times the handler has failed on this event so far."""
    value = _header(message, ATTEMPT_HEADER)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _header(message: AbstractIncomingMessage, name: str) -> Any:
    value = (message.headers or {}).get(name)
    return value.decode() if isinstance(value, bytes) else value


def _retry_copy(message: AbstractIncomingMessage, attempt: int) -> Message:
    """The message as it goes to a retry tier: same body and properties, the attempt count in a header."""
    # Broker-managed x- headers (x-death, x-delivery-count) would only grow with every round trip.
    headers = {key: value for key, value in (message.headers or {}).items() if not key.startswith("x-")}
    headers[ATTEMPT_HEADER] = attempt
    return Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        type=message.type,
        timestamp=message.timestamp,
        app_id=message.app_id,
        correlation_id=message.correlation_id,
    )


async def _settle(operation: Awaitable[None]) -> None:
    """Ack, nack or reject; when the channel is gone the broker requeues the message by itself."""
    try:
        await operation
    except _BROKER_ERRORS as error:
        log.warning("could not settle the message; the broker will redeliver it", error=_describe(error))


async def _run_after_commit(after_commit: AfterCommit) -> None:
    try:
        await after_commit()
    except Exception:  # not retried: the handler persisted what a later pass needs to finish the work
        log.exception("after-commit action failed")


def _record_failure(error: Exception) -> None:
    span = trace.get_current_span()
    span.record_exception(error)
    span.set_status(trace.Status(trace.StatusCode.ERROR, _describe(error)))


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
