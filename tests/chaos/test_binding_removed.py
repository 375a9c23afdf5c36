"""(4) A queue's binding removed. availability's queue is the only one bound to `slot.created`; the binding is removed
in the stack's own vhost while an admin opens new slots. The relay's `mandatory` publish of each `slot.created` comes
back unroutable; since a queue subscribes to that event (SUBSCRIPTIONS) the rows stay unsent instead of being marked,
and booking's smartslot_outbox_oldest_unsent_age_seconds and smartslot_outbox_backlog show it (the OutboxEventsStuck
alert in deploy/prometheus reads the first). Bookings meanwhile are published and emailed as usual. Once the binding
is back, every held-back event is delivered to availability, and nothing is left unsent."""

from __future__ import annotations

from datetime import timedelta

import aio_pika
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smartslot_common.messaging.topology import exchange_name, queue_name
from smartslot_common.testing import wait_for

from .harness import (
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    clients,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]
UNBOUND = "slot.created"  # availability's binding, the only queue that takes this key
NEW_SLOTS = 3
UNSENT = "SELECT count(*) FROM booking.outbox WHERE event_type = 'slot.created' AND published_at IS NULL"


async def _metrics(chaos, service: str) -> list:
    answer = await chaos.direct(service).call("GET", "/metrics")
    assert answer.status == 200, answer
    return [sample for family in text_string_to_metric_families(answer.body) for sample in family.samples]


async def _outbox_gauges(chaos) -> dict[str, float]:
    """booking's outbox backlog and the age of its oldest unsent row."""
    return {sample.name: sample.value for sample in await _metrics(chaos, "booking")
            if sample.name in ("smartslot_outbox_backlog", "smartslot_outbox_oldest_unsent_age_seconds")}


async def _slots_created_applied(chaos) -> float:
    return sum(sample.value for sample in await _metrics(chaos, "availability")
               if sample.name == "smartslot_events_consumed_total" and sample.labels.get("event_type") == UNBOUND
               and sample.labels.get("outcome") == "applied")


async def test_4_a_removed_binding_keeps_the_events_unsent_and_visible_until_it_is_back() -> None:
    async with chaos_stack() as chaos:
        [token] = await clients(chaos.api, 1)
        [slot_id, *_] = await slots(chaos.api, chaos.admin, 2)  # the catalog; its slots' events reach availability
        env = chaos.services.base_env
        namespace = env["SMARTSLOT_NAMESPACE"]
        recorder = Recorder()

        async def nothing_unsent() -> bool:
            return await chaos.db.fetchval("SELECT count(*) FROM booking.outbox WHERE published_at IS NULL") == 0

        await wait_for(nothing_unsent, 60, interval=0.2, what="the catalog's events to be published")
        applied_before = await _slots_created_applied(chaos)
        provider_id = await chaos.db.fetchval("SELECT provider_id FROM booking.slots WHERE id = $1::uuid", slot_id)
        service_id = await chaos.db.fetchval("SELECT service_id FROM booking.slots WHERE id = $1::uuid", slot_id)
        last_start = await chaos.db.fetchval("SELECT max(starts_at) FROM booking.slots")

        connection = await aio_pika.connect(env["SMARTSLOT_AMQP_URL"])  # the stack's own vhost
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(exchange_name(namespace), ensure=False)
            queue = await channel.declare_queue(queue_name(namespace, "availability"), passive=True)
            await queue.unbind(exchange, routing_key=UNBOUND)

            created = []
            for hours in range(1, NEW_SLOTS + 1):
                answer = await chaos.api.call("POST", f"/v1/providers/{provider_id}/slots", chaos.admin, {
                    "service_id": str(service_id), "starts_at": (last_start + timedelta(hours=hours)).isoformat()})
                assert answer.status == 201, answer
                created.append(answer.body["id"])

            # Returned, not marked: each row waits, with why, and the gauges the alert reads show it.
            async def held_back() -> bool:
                rows = await chaos.db.fetch("SELECT attempts, last_error FROM booking.outbox "
                                            "WHERE event_type = 'slot.created' AND published_at IS NULL")
                return len(rows) == NEW_SLOTS and all(
                    row["attempts"] >= 1 and (row["last_error"] or "").startswith("unroutable") for row in rows)

            await wait_for(held_back, 60, interval=0.2, what="every new slot's event returned and kept unsent")

            async def alerting() -> bool:
                gauges = await _outbox_gauges(chaos)
                return (gauges.get("smartslot_outbox_backlog", 0) >= NEW_SLOTS
                        and gauges.get("smartslot_outbox_oldest_unsent_age_seconds", 0) > 1)

            await wait_for(alerting, 30, interval=0.2, what="booking's outbox gauges to show the held-back rows")

            # Other events keep going meanwhile: a booking is published and emailed.
            booked = await recorder.call(chaos.api, "POST", "/v1/appointments", token, {"slot_id": slot_id})
            assert booked is not None, recorder.answers[-1]
            assert booked.status == 201, booked
            await assert_each_confirmation_published_and_emailed_once(chaos, [booked.body["id"]])
            assert await chaos.db.fetchval(UNSENT) == NEW_SLOTS

            await queue.bind(exchange, routing_key=UNBOUND)

        # The relay's back-off (capped at a minute) brings them out; availability takes each.
        async def delivered() -> bool:
            return (await chaos.db.fetchval(UNSENT) == 0
                    and await _slots_created_applied(chaos) >= applied_before + NEW_SLOTS)

        await wait_for(delivered, 150, interval=0.5, what="the held-back events to be delivered once bound again")
        rows = await chaos.db.fetch("SELECT last_error FROM booking.outbox WHERE event_type = 'slot.created'")
        assert {row["last_error"] for row in rows} == {None}, rows

        async def gauges_clear() -> bool:
            return (await _outbox_gauges(chaos)).get("smartslot_outbox_backlog") == 0

        await wait_for(gauges_clear, 30, interval=0.2, what="booking's outbox backlog gauge back to 0")
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        assert recorder.statuses().keys() <= {201}, recorder.statuses()
