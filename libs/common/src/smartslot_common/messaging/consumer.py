"""Consume one service's queue: apply each event once (inbox), retry through TTL tiers, dead-letter the rest."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging.deliveries import (
    BROKER_ERRORS,
    consumer_span,
    failed_attempts,
    record_failure,
    retry_copy,
    settle,
)
from smartslot_common.messaging.envelope import Event, InvalidEnvelope
from smartslot_common.messaging.errors import PermanentError, describe
from smartslot_common.messaging.topology import (
    RETRY_DELAYS,
    dead_letter_queue_name,
    declare_consumer_queues,
    queue_name,
    retry_queue_name,
)
from smartslot_common.metrics import EVENT_HANDLE_DURATION, EVENTS_CONSUMED, QUEUE_MESSAGES

AfterCommit = Callable[[], Awaitable[None]]
Handler = Callable[[Connection, Event], Awaitable[AfterCommit | None]]

APPLIED, DUPLICATE, RETRIED, DEAD_LETTERED, IGNORED = "applied", "duplicate", "retried", "dead_lettered", "ignored"

log = get_logger(__name__)
# The database itself is gone (not the handler's fault): wait for it instead of burning through the retry tiers.
_DATABASE_GONE = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)
_DATABASE_WAIT_CAP_SECONDS = 30.0
QUEUE_DEPTH_INTERVAL_SECONDS = 15.0


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
        self._depth_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open a channel, (re)declare this consumer's queues and start consuming."""
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            await self._channel.set_qos(prefetch_count=self._prefetch)
            # Redeclaring with this consumer's retry delays fails loudly if they differ from the declared topology.
            self._queue = await declare_consumer_queues(
                self._channel, self._namespace, self._consumer, self._retry_delays
            )
            self._consumer_tag = await self._queue.consume(self._on_message)
        except BaseException:
            await self.stop()
            raise
        self._depth_task = asyncio.create_task(self._watch_queue_depth(), name=f"queue-depth-{self._consumer}")
        log.info("consuming events", consumer=self._consumer, queue=self._queue.name)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, give the ones in hand `timeout` seconds to finish, and close the channel."""
        if self._depth_task is not None:
            self._depth_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._depth_task
            self._depth_task = None
        if self._queue is not None and self._consumer_tag is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await self._queue.cancel(self._consumer_tag)
        await self._finish_in_flight(timeout)
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(*BROKER_ERRORS):
                await self._channel.close()
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
                log.debug("queue depth not measured", error=describe(error))
            await asyncio.sleep(QUEUE_DEPTH_INTERVAL_SECONDS)

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
            log.error(
                "undecodable message dead-lettered",
                consumer=self._consumer,
                message_id=message.message_id,
                error=str(error),
            )
            await settle(message.reject(requeue=False))
            return "invalid", DEAD_LETTERED
        handler = self._handlers.get(event.type)
        if handler is None:
            await settle(message.ack())
            return event.type, IGNORED
        with (
            structlog.contextvars.bound_contextvars(
                consumer=self._consumer, event_id=str(event.id), event_type=event.type
            ),
            consumer_span(message, event, queue_name(self._namespace, self._consumer)),
        ):
            return event.type, await self._handle(message, event, handler)

    async def _handle(self, message: AbstractIncomingMessage, event: Event, handler: Handler) -> str:
        try:
            applied, after_commit = await self._apply_waiting_for_database(event, handler)
        except PermanentError as error:
            record_failure(error)
            log.error("handler refused the event for good; dead-lettered", error=str(error))
            await settle(message.reject(requeue=False))
            return DEAD_LETTERED
        except Exception as error:  # any handler failure is retried; its transaction has rolled back
            record_failure(error)
            return await self._retry_later(message, error)
        await settle(message.ack())
        if after_commit is not None:
            await _run_after_commit(after_commit)
        return APPLIED if applied else DUPLICATE

    async def _apply_waiting_for_database(self, event: Event, handler: Handler) -> tuple[bool, AfterCommit | None]:
        delay = 0.25
        while True:
            try:
                return await self._apply(event, handler)
            except _DatabaseUnavailable as error:
                # The message stays unacked meanwhile; a stop() or a lost channel cancels the wait.
                log.warning(
                    "database unavailable; waiting to apply the event",
                    error=describe(error.__cause__),
                    retry_in_seconds=delay,
                )
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
        except Exception as error:
            cause = _lost_connection_error(error)
            if cause is not None:
                raise _DatabaseUnavailable from cause
            raise
        finally:
            await self._pool.release(connection)

    async def _claim(self, connection: Connection, event: Event) -> bool:
        claimed = await connection.fetchval(
            "INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true",
            self._consumer,
            event.id,
            event.type,
        )
        return bool(claimed)

    async def _retry_later(self, message: AbstractIncomingMessage, error: Exception) -> str:
        attempt = failed_attempts(message) + 1
        if attempt > len(self._retry_delays):
            log.error("event failed on every retry; dead-lettered", attempts=attempt, error=describe(error))
            await settle(message.reject(requeue=False))
            return DEAD_LETTERED
        log.warning(
            "handler failed; event will be retried",
            attempt=attempt,
            retry_in_seconds=self._retry_delays[attempt - 1],
            error=describe(error),
            exc_info=error,
        )
        try:
            assert self._channel is not None
            await self._channel.default_exchange.publish(
                retry_copy(message, attempt), routing_key=self._retry_queue(attempt), mandatory=True
            )
        except BROKER_ERRORS as publish_error:
            log.warning("could not schedule the retry; the broker will redeliver", error=describe(publish_error))
            await settle(message.nack(requeue=True))
            return RETRIED
        await settle(message.ack())
        return RETRIED

    def _retry_queue(self, attempt: int) -> str:
        return retry_queue_name(self._namespace, self._consumer, attempt)


def _lost_connection_error(error: BaseException | None) -> BaseException | None:
    """The error saying the connection died, if it did: the rollback's InterfaceError hides it in its context."""
    while error is not None:
        if isinstance(error, _DATABASE_GONE):
            return error
        error = error.__cause__ or error.__context__
    return None


async def _run_after_commit(after_commit: AfterCommit) -> None:
    try:
        await after_commit()
    except Exception:  # not retried: the handler persisted what a later pass needs to finish the work
        log.exception("after-commit action failed")
