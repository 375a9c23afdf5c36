"""What a consumer does with one AMQP delivery besides handling it: headers, trace, retry copies, settling."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Iterator
from typing import Any

from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import AMQPError
from opentelemetry import propagate, trace

from smartslot_common.logging import get_logger
from smartslot_common.messaging.envelope import EVENTS_HEADER, Event
from smartslot_common.messaging.errors import describe
from smartslot_common.messaging.publisher import to_message

ATTEMPT_HEADER = "smartslot-attempt"
# How often a message came back unsettled (classic queues; quorum queues count it in x-delivery-count).
REDELIVERIES_HEADER = "smartslot-redeliveries"
# Why the consumer dead-lettered a message: rejected (refused for good), invalid (undecodable), exhausted (failed on
# every retry tier), delivery_limit (came back unsettled too often: it may crash its consumer).
DEAD_LETTER_REASON_HEADER = "smartslot-dead-letter-reason"
# Failures of the broker or the channel: an unsettled message is redelivered, and the inbox drops the copy.
BROKER_ERRORS = (AMQPError, ConnectionError, OSError, RuntimeError, TimeoutError)

log = get_logger(__name__)
_tracer = trace.get_tracer(__name__)


def header(message: AbstractIncomingMessage, name: str) -> Any:
    """A header's value, with bytes decoded."""
    value = (message.headers or {}).get(name)
    return value.decode() if isinstance(value, bytes) else value


def failed_attempts(message: AbstractIncomingMessage) -> int:
    """How many times a handler has failed on this message so far (0 on its first delivery)."""
    try:
        return int(header(message, ATTEMPT_HEADER) or 0)
    except (TypeError, ValueError):
        return 0


def redeliveries(message: AbstractIncomingMessage) -> int:
    """How often this message came back unsettled before (0 if never)."""
    try:
        return int(header(message, REDELIVERIES_HEADER) or 0)
    except (TypeError, ValueError):
        return 0


def retry_copy(message: AbstractIncomingMessage, attempt: int, part: Event | None = None) -> Message:
    """The message (or its event `part`, see `copy_of`) as it goes to a retry tier: the attempt count in a
    header."""
    return copy_of(message, {ATTEMPT_HEADER: attempt}, part)


def copy_of(message: AbstractIncomingMessage, headers: dict[str, Any], part: Event | None = None) -> Message:
    """A persistent copy of the message, same body and properties, with `headers` added to its own; or, with
    `part`, a message of that one of its events alone (a retry or dead letter of one event of several)."""
    # Broker-managed x- headers (x-death, x-delivery-count) would only grow with every round trip.
    kept = {key: value for key, value in (message.headers or {}).items() if not key.startswith("x-")}
    if part is not None:
        kept.pop(EVENTS_HEADER, None)
        return to_message(part, headers=kept | headers)
    return Message(
        body=message.body,
        headers=kept | headers,
        content_type=message.content_type,
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        type=message.type,
        timestamp=message.timestamp,
        app_id=message.app_id,
        correlation_id=message.correlation_id,
    )


async def settle(operation: Awaitable[None]) -> None:
    """Ack, nack or reject; if the channel is gone the broker requeues the message by itself."""
    try:
        await operation
    except BROKER_ERRORS as error:
        log.warning("could not settle the message; the broker will redeliver it", error=describe(error))


@contextlib.contextmanager
def consumer_span(message: AbstractIncomingMessage, event: Event, queue: str) -> Iterator[trace.Span]:
    """A CONSUMER span continuing the producer's trace (header first, then the envelope's traceparent)."""
    carrier = {"traceparent": header(message, "traceparent") or event.traceparent or ""}
    attributes = {  # OpenTelemetry messaging semantic conventions (1.27+)
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": message.exchange or "",
        "messaging.rabbitmq.destination.routing_key": event.type,
        "messaging.message.id": str(event.id),
        "messaging.consumer.group.name": queue,
    }
    with _tracer.start_as_current_span(
        f"process {event.type}",
        context=propagate.extract(carrier),
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        yield span


def record_failure(error: BaseException) -> None:
    """Mark the current span as failed by `error`."""
    span = trace.get_current_span()
    span.record_exception(error)
    span.set_status(trace.Status(trace.StatusCode.ERROR, describe(error)))
