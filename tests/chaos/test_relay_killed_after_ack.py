"""(3) The outbox relay killed after the broker's ack but before it marked the rows.

booking (whose process runs the relay) reaches PostgreSQL through a proxy that holds back the relay's marking
statement (`UPDATE "booking".outbox SET published_at = ...`): the booking's event is published and confirmed by the
broker, the consumers have it, and the row is still unmarked when booking is killed with SIGKILL. The relay's
transaction dies with it (its row lock too); booking restarted, the relay publishes the row again. That duplicate
reaches every consumer, and each applies it once: the notifier recognises it (inbox) and emails nobody twice;
availability's invalidation is idempotent; the row ends marked once."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from smartslot_common.testing import wait_for

from .harness import (
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    clients,
    emails_by_appointment,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]
# The relay's marking statement, as asyncpg sends it the first time a connection runs it (its Parse message carries
# the text; booking is restarted before the test's booking so that its connections have not run it yet).
MARK_PUBLISHED = b'outbox SET published_at = now()'


async def _consumed(chaos, service: str, outcome: str) -> float:
    """`smartslot_events_consumed_total` of confirmations for one outcome, in one service."""
    answer = await chaos.direct(service).call("GET", "/metrics")
    assert answer.status == 200, answer
    return sum(sample.value for family in text_string_to_metric_families(answer.body) for sample in family.samples
               if sample.name == "smartslot_events_consumed_total" and sample.labels.get("outcome") == outcome
               and sample.labels.get("event_type") == "appointment.confirmed")


async def test_3_the_relay_killed_between_the_brokers_ack_and_the_mark_publishes_again_and_each_applies_once() -> None:
    async with chaos_stack(proxied={"postgres": ("booking",)}) as chaos:
        [token] = await clients(chaos.api, 1)
        [slot_id] = await slots(chaos.api, chaos.admin, 1)
        postgres = chaos.proxies["postgres"]
        recorder = Recorder()

        async def drained() -> bool:
            return await chaos.db.fetchval("SELECT count(*) FROM booking.outbox WHERE published_at IS NULL") == 0

        await wait_for(drained, 60, interval=0.2, what="the catalog's events to be published")
        # A fresh booking process: none of its connections has run the marking statement, so the proxy sees its text.
        chaos.services.stop("booking")
        postgres.stall_at(MARK_PUBLISHED)
        await chaos.restart("booking")

        answer = await recorder.call(chaos.api, "POST", "/v1/appointments", token, {"slot_id": slot_id})
        assert answer is not None, recorder.answers[-1]
        assert answer.status == 201, answer
        appointment_id = str(answer.body["id"])

        async def acked_not_marked() -> bool:
            return postgres.stalled and emails_by_appointment(chaos.mail_dir)[appointment_id] == 1

        await wait_for(acked_not_marked, 90, interval=0.05,
                       what="the event confirmed and consumed while the relay's mark is held back")
        row = await chaos.db.fetchrow(
            "SELECT published_at, attempts FROM booking.outbox WHERE event_type = 'appointment.confirmed'")
        assert row is not None
        assert row["published_at"] is None, row  # the broker has it; the table does not know
        assert await _consumed(chaos, "notifier", "applied") == 1

        recorder.fault_opens()
        chaos.services.kill("booking")
        # What the kernel does for a dead process's sockets: PostgreSQL sees the relay's connection end and rolls
        # its transaction back (through the proxy, a reset).
        await postgres.cut()
        await postgres.restore()
        await chaos.restart("booking")
        recorder.fault_closes()

        # Published again: the notifier gets the duplicate and applies it once; availability takes it as well.
        async def duplicate_seen() -> bool:
            return await _consumed(chaos, "notifier", "duplicate") >= 1

        await wait_for(duplicate_seen, 90, interval=0.2, what="the relay's second publication to reach the notifier")
        assert await _consumed(chaos, "notifier", "applied") == 1

        async def availability_took_both() -> bool:  # idempotent: it applies each copy, to the same effect
            return await _consumed(chaos, "availability", "applied") >= 2

        await wait_for(availability_took_both, 60, interval=0.2, what="availability to take both publications")
        await assert_each_confirmation_published_and_emailed_once(chaos, [appointment_id])
        assert await chaos.db.fetchval(
            "SELECT count(*) FROM notifier.inbox WHERE event_type = 'appointment.confirmed'") == 1
        assert postgres.stalls == 1
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        assert recorder.statuses() == {201: 1}, recorder.statuses()
