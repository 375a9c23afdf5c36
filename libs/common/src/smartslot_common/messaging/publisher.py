"""Publish events to the events exchange and return only once the broker has taken responsibility for them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import aiormq
from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractRobustChannel
from aio_pika.exceptions import AMQPError, PublishError
from opentelemetry import propagate, trace

from smartslot_common.contracts.events import routing_key
from smartslot_common.messaging.envelope import EVENTS_HEADER, Event
from smartslot_common.messaging.errors import PublishFailed, Unroutable, describe
from smartslot_common.messaging.topology import exchange_name
from smartslot_common.messaging.wal import WAL_POSITION_HEADER, WalPosition
from smartslot_common.tracing import recording

# Whatever stops the broker's ack from arriving: nack, lost connection or channel, closed client, timeout.
_NOT_CONFIRMED = (AMQPError, ConnectionError, OSError, RuntimeError, TimeoutError)
_tracer = trace.get_tracer(__name__)


def to_message(event: Event, position: WalPosition | None = None, headers: dict[str, Any] | None = None) -> Message:
    """The AMQP message carrying `event`: persistent, typed, with the event's trace context (its send span's, see
    `EventPublisher`) and the producer database's WAL position past the event's commit, when the relay knows it, in
    its headers, besides `headers`."""
    carried = {**(headers or {}), **({"traceparent": event.traceparent} if event.traceparent else {})}
    return _message(event.to_json(), event, carried, position)


def to_batch_message(events: Sequence[Event], position: WalPosition | None = None) -> Message:
    """The AMQP message carrying several events of one routing key (see `envelope.events_of`): their envelopes
    in a JSON array, in order, each with its own trace context; typed, named and timed as the first of them, with
    their number in a header."""
    first = events[0]
    body = b"[" + b",".join(event.to_json() for event in events) + b"]"
    return _message(body, first, {EVENTS_HEADER: len(events)}, position)


def _message(body: bytes, event: Event, headers: dict[str, Any], position: WalPosition | None) -> Message:
    if position is not None:
        headers[WAL_POSITION_HEADER] = position.header()
    return Message(
        body=body,
        content_type="application/json",
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=str(event.id),
        type=event.type,
        timestamp=event.occurred_at,
        app_id=event.producer,
        correlation_id=event.correlation_id,
        headers=headers,
    )


class EventPublisher:
    """Publishes events with publisher confirms and `mandatory`, on a channel of its own."""

    def __init__(self, connection: AbstractConnection, namespace: str, timeout: float = 10.0) -> None:
        self._connection = connection
        self._exchange_name = exchange_name(namespace)
        self._timeout = timeout
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._opening = asyncio.Lock()

    async def publish(self, event: Event, position: WalPosition | None = None) -> None:
        """Publish `event` (stamped with `position`, see `wal`); raise `Unroutable` if the broker returns it,
        `PublishFailed` if it is not confirmed."""
        await self.publish_together([event], position)

    async def publish_together(self, events: Sequence[Event], position: WalPosition | None = None) -> None:
        """Publish `events`, all of one routing key, in one message (one event: a message of its own), which the
        broker routes, stores and delivers once for them all; raise as `publish` does, for all of them."""
        first = events[0]
        key = routing_key(first.type, first.payload)
        described = f"event {first.id} ({first.type})" if len(events) == 1 else (
            f"{len(events)} events from {first.id} ({first.type})")
        try:
            with self._send_spans(events, key) as traced:
                message = to_message(traced[0], position) if len(traced) == 1 else to_batch_message(traced, position)
                async with asyncio.timeout(self._timeout):
                    exchange = await self._open_exchange()
                    result = await exchange.publish(message, routing_key=key, mandatory=True)
        except PublishError as error:
            raise Unroutable(f"no queue is bound for {first.type} ({described})") from error
        except _NOT_CONFIRMED as error:
            raise PublishFailed(f"{described} not confirmed: {describe(error)}") from error
        if not isinstance(result, aiormq.spec.Basic.Ack):  # a returned message, should the channel not raise
            raise Unroutable(f"no queue is bound for {first.type} ({described})")

    @contextlib.contextmanager
    def _send_spans(self, events: Sequence[Event], key: str) -> Iterator[Sequence[Event]]:
        """A PRODUCER span in each event's trace around the publish, when spans are recorded (none otherwise: this
        runs for every event); yields the events carrying their send span's trace context, which the consumer
        continues."""
        if not recording():
            yield events
            return
        with contextlib.ExitStack() as spans:
            yield [event.model_copy(update={"traceparent": spans.enter_context(self._send_span(event, key))})
                   for event in events]

    @contextlib.contextmanager
    def _send_span(self, event: Event, key: str) -> Iterator[str | None]:
        """A PRODUCER span in the event's trace around the publish, when spans are recorded (none otherwise: this
        runs for every event); yields its traceparent, which the message then carries to the consumer."""
        if not recording():
            yield None
            return
        attributes = {  # OpenTelemetry messaging semantic conventions (1.27+)
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.destination.name": self._exchange_name,
            "messaging.rabbitmq.destination.routing_key": key,
            "messaging.message.id": str(event.id),
        }
        parent = propagate.extract({"traceparent": event.traceparent or ""})
        with _tracer.start_as_current_span(
            f"publish {event.type}", context=parent, kind=trace.SpanKind.PRODUCER, attributes=attributes
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            yield carrier.get("traceparent")

    async def close(self) -> None:
        """Close the publisher's channel."""
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(*_NOT_CONFIRMED):
                await channel.close()

    async def _open_exchange(self) -> AbstractExchange:
        async with self._opening:
            if self._exchange is None or self._needs_new_channel():
                await self.close()
                self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
                self._exchange = await self._channel.get_exchange(self._exchange_name, ensure=False)
            return self._exchange

    def _needs_new_channel(self) -> bool:
        # A robust channel reopens by itself once its connection is back; a plain one is gone for good.
        channel = self._channel
        return channel is None or (channel.is_closed and not isinstance(channel, AbstractRobustChannel))
