"""(7) RabbitMQ "restarted" while deliveries are unacked. The broker is shared with other runs on this machine, so it
is never restarted: every connection of the stack's own vhost is closed by the broker (`rabbitmqctl
close_all_connections --vhost <this run's vhost>`), as a restart closes them.

The unacked deliveries are made certain rather than left to timing: the notifier reaches the broker through a proxy
that holds back its first Basic.Ack and everything after it, so it applies and emails every confirmation while the
broker still counts each of them unacked. When the connections close, the broker requeues them; the services
reconnect by themselves, the notifier gets them again, recognises each (its inbox) and emails nobody twice; bookings
after the restart are published and emailed too."""

from __future__ import annotations

import asyncio
import shutil
from urllib.parse import unquote, urlsplit

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
BEFORE, AFTER = 6, 3
# AMQP 0-9-1 Basic.Ack as it appears in a method frame: class 60, method 80 (what a consumer sends after commit).
BASIC_ACK = bytes([0, 60, 0, 80])


async def _close_vhost_connections(vhost: str) -> None:
    """What a broker restart does to the stack's connections, and only to this run's vhost."""
    assert vhost.startswith("smartslot_t_"), vhost  # never another run's, never the whole node
    tool = shutil.which("rabbitmqctl")
    assert tool is not None, "rabbitmqctl is needed to close the vhost's connections"
    process = await asyncio.create_subprocess_exec(
        tool, "-q", "close_all_connections", "--vhost", vhost, "chaos test: broker restarting",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode(errors="replace")


async def _consumed(chaos, outcome: str) -> float:
    """The notifier's `smartslot_events_consumed_total` of confirmations for one outcome."""
    answer = await chaos.direct("notifier").call("GET", "/metrics")
    assert answer.status == 200, answer
    return sum(sample.value for family in text_string_to_metric_families(answer.body) for sample in family.samples
               if sample.name == "smartslot_events_consumed_total" and sample.labels.get("outcome") == outcome
               and sample.labels.get("event_type") == "appointment.confirmed")


async def test_7_a_broker_restart_with_unacked_deliveries_redelivers_them_and_each_is_applied_once() -> None:
    async with chaos_stack(proxied={"amqp": ("notifier",)}) as chaos:
        tokens = await clients(chaos.api, 3)
        slot_ids = await slots(chaos.api, chaos.admin, BEFORE + AFTER)
        vhost = unquote(urlsplit(chaos.services.base_env["SMARTSLOT_AMQP_URL"]).path.lstrip("/"))
        amqp = chaos.proxies["amqp"]
        recorder = Recorder()

        async def book(index: int) -> str:
            answer = await recorder.call(chaos.api, "POST", "/v1/appointments", tokens[index % len(tokens)],
                                         {"slot_id": slot_ids[index]})
            assert answer is not None, recorder.answers[-1]
            assert answer.status == 201, answer
            return str(answer.body["id"])

        amqp.stall_at(BASIC_ACK)
        before = [await book(index) for index in range(BEFORE)]

        async def applied_but_unacked() -> bool:
            return amqp.stalled and sum(emails_by_appointment(chaos.mail_dir).values()) == BEFORE

        await wait_for(applied_but_unacked, 90, interval=0.1,
                       what="every confirmation emailed while the notifier's acks are held back")
        assert await _consumed(chaos, "duplicate") == 0

        await _close_vhost_connections(vhost)
        # The notifier's connection ends at the proxy too (its held-back acks never reach the broker).
        await amqp.cut()
        await amqp.restore()

        # Back by themselves: the requeued deliveries come again and are recognised; nothing is emailed twice.
        async def redelivered() -> bool:
            return await _consumed(chaos, "duplicate") >= BEFORE

        await wait_for(redelivered, 120, interval=0.5, what="the unacked confirmations to come back as duplicates")
        after = [await book(index) for index in range(BEFORE, BEFORE + AFTER)]
        await assert_each_confirmation_published_and_emailed_once(chaos, before + after, timeout=120)
        inbox = await chaos.db.fetchval(
            "SELECT count(*) FROM notifier.inbox WHERE event_type = 'appointment.confirmed'")
        assert inbox == BEFORE + AFTER, inbox
        assert await _consumed(chaos, "applied") == BEFORE + AFTER
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        assert recorder.statuses() == {201: BEFORE + AFTER}, recorder.statuses()
