"""(5) Poison events among real ones: an `appointment.confirmed` whose payload is no appointment, a `slot.released`
whose payload is no slot, and a message that is not an event at all, published into the stack's own vhost between
real bookings. Each reaches its consumers' dead-letter queues at its first delivery (within the delivery limit),
marked with why; nothing retries or requeues it in a loop (the consumers' counters say so, and their CPU time over
the window stays low); the bookings around them are published and emailed once each."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import aio_pika
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smartslot_common.messaging import Event
from smartslot_common.messaging.deliveries import DEAD_LETTER_REASON_HEADER
from smartslot_common.messaging.topology import dead_letter_queue_name, exchange_name, queue_name
from smartslot_common.testing import wait_for

from .harness import (
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    clients,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]
BOOKINGS = 6
# A hot requeue loop keeps a consumer's process on the CPU the whole window; idle consumers use a few per cent.
QUIET_WINDOW_SECONDS = 5.0
MAX_CPU_SHARE = 0.5


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _consumed(chaos, service: str) -> dict[tuple[str, str], float]:
    """`smartslot_events_consumed_total` of one service by (event type, outcome)."""
    answer = await chaos.direct(service).call("GET", "/metrics")
    assert answer.status == 200, answer
    return {(sample.labels["event_type"], sample.labels["outcome"]): sample.value
            for family in text_string_to_metric_families(answer.body) for sample in family.samples
            if sample.name == "smartslot_events_consumed_total"}


async def test_5_poison_events_are_dead_lettered_once_and_the_rest_flow_on() -> None:
    async with chaos_stack() as chaos:
        tokens = await clients(chaos.api, 3)
        slot_ids = await slots(chaos.api, chaos.admin, BOOKINGS)
        env = chaos.services.base_env
        namespace = env["SMARTSLOT_NAMESPACE"]
        recorder = Recorder()
        booked = []

        async def book(index: int) -> None:
            answer = await recorder.call(chaos.api, "POST", "/v1/appointments", tokens[index % len(tokens)],
                                         {"slot_id": slot_ids[index]})
            assert answer is not None, recorder.answers[-1]
            assert answer.status == 201, answer
            booked.append(answer.body["id"])

        for index in range(BOOKINGS // 2):
            await book(index)

        bad_appointment = Event.create("appointment.confirmed", {"appointment_id": "not-an-appointment"}, "chaos")
        bad_release = Event.create("slot.released", {"slot": ["not", "a", "slot"]}, "chaos")
        not_an_event = uuid.uuid4()
        connection = await aio_pika.connect(env["SMARTSLOT_AMQP_URL"])
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(exchange_name(namespace), ensure=False)
            for body, key, message_id in (
                (bad_appointment.to_json(), "appointment.confirmed.client", bad_appointment.id),
                (bad_release.to_json(), "slot.released", bad_release.id),
                (b"{this is not json", "appointment.confirmed.client", not_an_event),
            ):
                message = aio_pika.Message(body, message_id=str(message_id), content_type="application/json",
                                           delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                await exchange.publish(message, routing_key=key, mandatory=True)
            cpu_before = {name: _cpu_seconds(chaos.services.services[name].process.pid)
                          for name in ("notifier", "waitlist")}
            window_started = time.monotonic()

            for index in range(BOOKINGS // 2, BOOKINGS):  # the rest keep flowing behind the poison
                await book(index)
            await assert_each_confirmation_published_and_emailed_once(chaos, booked, timeout=90)

            # Each poison lands in the dead-letter queue of each consumer it reached, once, marked with why.
            expected = {"notifier": {str(bad_appointment.id): "rejected", str(not_an_event): "invalid"},
                        "waitlist": {str(bad_release.id): "rejected"}}
            dead: dict[str, dict[str, str]] = {}

            async def dead_lettered() -> bool:
                for consumer in expected:
                    queue = await channel.declare_queue(dead_letter_queue_name(namespace, consumer), passive=True)
                    while (message := await queue.get(no_ack=True, fail=False)) is not None:
                        reason = message.headers.get(DEAD_LETTER_REASON_HEADER)
                        dead.setdefault(consumer, {})[str(message.message_id)] = (
                            reason.decode() if isinstance(reason, bytes) else str(reason))
                return dead == expected

            await wait_for(dead_lettered, 60, interval=0.2, what=f"the poison in the dead-letter queues (got {dead})")
            for consumer in expected:
                main = await channel.declare_queue(queue_name(namespace, consumer), passive=True)
                assert main.declaration_result.message_count == 0, consumer  # nothing left going round

        # No loop: each poison was handled once, neither retried nor requeued; the window's CPU stayed low.
        await wait_for(lambda: _elapsed(window_started, QUIET_WINDOW_SECONDS), QUIET_WINDOW_SECONDS + 1, interval=0.1,
                       what="the quiet window to pass")
        wall = time.monotonic() - window_started
        for name, before in cpu_before.items():
            share = (_cpu_seconds(chaos.services.services[name].process.pid) - before) / wall
            assert share < MAX_CPU_SHARE, (name, share)
        notifier, waitlist = await _consumed(chaos, "notifier"), await _consumed(chaos, "waitlist")
        assert notifier[("appointment.confirmed", "dead_lettered")] == 1, notifier
        assert notifier[("invalid", "dead_lettered")] == 1, notifier
        assert notifier[("appointment.confirmed", "applied")] == BOOKINGS, notifier
        assert waitlist[("slot.released", "dead_lettered")] == 1, waitlist
        for counts in (notifier, waitlist):
            looped = {key: value for key, value in counts.items() if key[1] in ("retried", "requeued") and value}
            assert looped == {}, looped
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)


async def _elapsed(since: float, seconds: float) -> bool:
    return time.monotonic() - since >= seconds
