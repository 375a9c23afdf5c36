"""aiohttp glue: the AMQP connection, the outbox relay and event consumers as cleanup contexts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from urllib.parse import urlsplit

import aio_pika
import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import AMQPError
from aiohttp import web

from smartslot_common.errors import DependencyUnavailable
from smartslot_common.http.health import ReadinessCheck
from smartslot_common.jobs import running
from smartslot_common.logging import get_logger
from smartslot_common.messaging.consumer import EventConsumer, Handler, IdempotentHandler
from smartslot_common.messaging.outbox import OutboxRelay
from smartslot_common.messaging.publisher import EventPublisher
from smartslot_common.messaging.topology import DEFAULT_QUEUE_TYPE, RETRY_DELAYS, QueueType, declare_topology

log = get_logger(__name__)
RABBITMQ_HINT = "start it with `make infra` (or `rabbitmq-server -detached`)"
# How long a shutdown waits for the broker to confirm a close (Close-Ok) before it goes on without it.
CLOSE_SECONDS = 10.0
# How long a consumer waits for more events to apply with the first one: a quiet stream then still makes batches
# (one transaction, one ack and one round of the handler's statements for several events) at this cost in latency.
CONSUMER_LINGER_SECONDS = 0.02
# The main queues' type the app declared (set by amqp_context, read by consumer_context).
QUEUE_TYPE: web.AppKey[QueueType] = web.AppKey("smartslot_amqp_queue_type")

CleanupContext = Callable[[web.Application], AsyncIterator[None]]
# Handlers as a mapping (or one idempotent handler), or built from the started app when they need its resources.
Handlers = (
    Mapping[str, Handler] | IdempotentHandler
    | Callable[[web.Application], Mapping[str, Handler] | IdempotentHandler]
)


async def connect_amqp(url: str, timeout: float = 10.0) -> AbstractRobustConnection:
    """A connection that reconnects by itself after outages; `DependencyUnavailable` if the broker is down now."""
    try:
        return await aio_pika.connect_robust(url, timeout=timeout)
    except (AMQPError, ConnectionError, OSError, TimeoutError) as error:
        raise DependencyUnavailable("RabbitMQ", amqp_target(url), RABBITMQ_HINT, error) from error


def amqp_target(url: str) -> str:
    """host:port of an AMQP URL, without credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5672}"


def amqp_context(
    key: web.AppKey[AbstractRobustConnection],
    url: str,
    namespace: str,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    queue_type: QueueType = DEFAULT_QUEUE_TYPE,
) -> CleanupContext:
    """Connect to RabbitMQ and declare the whole topology (main queues of `queue_type`) before start-up; close on
    shutdown. The app's consumers declare their queues with the same type."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        connection = await connect_amqp(url)
        try:
            async with connection.channel() as channel:
                await declare_topology(channel, namespace, retry_delays, queue_type=queue_type)
            app[key] = connection
            app[QUEUE_TYPE] = queue_type
            yield
        finally:
            await close_within(connection.close(), "amqp_connection")

    return context


async def close_within(closing: Awaitable[object], what: str) -> None:
    """Wait for a close at most `CLOSE_SECONDS`: a broker that never confirms it, or a robust connection busy
    reconnecting, must not hold the shutdown. Logged (`close_timed_out`) when it gave up."""
    try:
        await asyncio.wait_for(closing, CLOSE_SECONDS)
    except TimeoutError:
        log.warning("close_timed_out", what=what, seconds=CLOSE_SECONDS)


def relay_context(
    pool_key: web.AppKey[asyncpg.Pool],
    amqp_key: web.AppKey[AbstractRobustConnection],
    schema: str,
    namespace: str,
    poll_interval: float = 1.0,
) -> CleanupContext:
    """Run the outbox relay of `schema` in the background while the app runs."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        publisher = EventPublisher(app[amqp_key], namespace)
        relay = OutboxRelay(app[pool_key], publisher, schema, poll_interval=poll_interval)
        async with running(relay, f"outbox-relay-{schema}"):
            yield
        await close_within(publisher.close(), "outbox_publisher")

    return context


def consumer_context(
    pool_key: web.AppKey[asyncpg.Pool],
    amqp_key: web.AppKey[AbstractRobustConnection],
    consumer: str,
    namespace: str,
    handlers: Handlers,
    prefetch: int = 32,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    linger: float = CONSUMER_LINGER_SECONDS,
) -> CleanupContext:
    """Consume `consumer`'s queue while the app runs; on shutdown, finish the events in hand first."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        resolved = handlers(app) if callable(handlers) else handlers
        events = EventConsumer(app[amqp_key], app[pool_key], consumer, namespace, resolved, prefetch, retry_delays,
                               app.get(QUEUE_TYPE, DEFAULT_QUEUE_TYPE), linger=linger)
        await events.start()
        yield
        await events.stop()

    return context


def amqp_readiness(amqp_key: web.AppKey[AbstractRobustConnection]) -> ReadinessCheck:
    """Readiness check "rabbitmq": down while the connection is closed or reconnecting."""

    async def probe(app: web.Application) -> None:
        connection = app[amqp_key]
        if connection.is_closed or not connection.connected.is_set():
            raise ConnectionError("not connected (reconnecting)")

    return ReadinessCheck("rabbitmq", probe, RABBITMQ_HINT)
