"""Poison messages go to the dead-letter queue and leave nothing behind; the consumer goes on with the rest."""

from __future__ import annotations

import uuid

import aio_pika
import pytest

from smartslot_common.messaging import Event
from smartslot_common.messaging.topology import dead_letter_queue_name, exchange_name
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration


async def publish_raw(amqp, namespace, body: bytes, routing_key: str, message_id: str) -> None:
    async with amqp.channel(publisher_confirms=True) as channel:
        exchange = await channel.get_exchange(exchange_name(namespace), ensure=False)
        await exchange.publish(aio_pika.Message(body, message_id=message_id), routing_key=routing_key)


async def dead_lettered(amqp, namespace, message_id: str) -> aio_pika.abc.AbstractIncomingMessage:
    """Wait for the message with this id on the notifier's DLQ (other dead letters are put back)."""
    async with amqp.channel() as channel:
        queue = await channel.declare_queue(dead_letter_queue_name(namespace, "notifier"), passive=True)

        async def found():
            seen = []
            try:
                while (message := await queue.get(fail=False)) is not None:
                    if message.message_id == message_id:
                        await message.ack()
                        return message
                    seen.append(message)
                return None
            finally:
                for other in seen:
                    await other.nack(requeue=True)

        return await wait_for(found, 15, what=f"{message_id} dead-lettered")


async def test_undecodable_message_is_dead_lettered(notifier, amqp, stack):
    message_id = str(uuid.uuid4())

    await publish_raw(amqp, stack.namespace, b"\xff not json at all", "appointment.confirmed", message_id)

    assert (await dead_lettered(amqp, stack.namespace, message_id)).body == b"\xff not json at all"


async def test_impossible_payload_is_dead_lettered_without_effects(notifier, amqp, stack):
    bad = Event.create("appointment.confirmed", {"appointment_id": "not-a-uuid", "client_email": "x@example.com"},
                       producer="tests")
    good = notifier.appointment()

    await notifier.publisher.publish(bad)
    await notifier.publish("appointment.confirmed", good)

    await dead_lettered(amqp, stack.namespace, str(bad.id))
    await notifier.mail_to(good["client_email"])  # the next message went through
    assert await notifier.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", bad.id) == 0
    assert await notifier.db.fetchval("SELECT count(*) FROM notifications WHERE event_id = $1", bad.id) == 0
    assert await notifier.db.fetchval("SELECT count(*) FROM deliveries WHERE source_id = $1", bad.id) == 0
