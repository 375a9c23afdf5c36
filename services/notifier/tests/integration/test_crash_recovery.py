"""kill -9 of a notifier process in the middle of its work: after a restart every email goes out exactly once.

At the moment of the kill the process holds all three kinds of unfinished work:
  A. emails already accepted by the SMTP server (and recorded as sent);
  B. events applied and acked whose emails are being sent: the server holds those transactions at MAIL FROM,
     so none has been accepted (the one unavoidable double, "accepted but not yet recorded", is kept out);
  C. events delivered to the process but not acked: the consumer's inbox insert waits on a lock the test holds.
After the restart the broker redelivers C, the delivery poller takes B over once their lease ends, and nothing of
A is sent again.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from smartslot_common.messaging import Event, EventPublisher, declare_topology
from smartslot_common.messaging.topology import queue_name
from smartslot_common.testing import isolated_stack, wait_for
from smartslot_common.testing.processes import ServiceStack

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[4]
PER_BATCH = 6
WAIT = 30.0


def fast_env(smtp_port: int) -> dict[str, str]:
    prefix = "SMARTSLOT_NOTIFIER_"
    return {
        prefix + "SMTP_PORT": str(smtp_port), prefix + "SMTP_TIMEOUT_SECONDS": "2",
        prefix + "WEBHOOK_TIMEOUT_SECONDS": "1", prefix + "DELIVERY_LEASE_SECONDS": "3",
        prefix + "DELIVERY_POLL_INTERVAL_SECONDS": "0.1", prefix + "DELIVERY_RETRY_BASE_SECONDS": "0.2",
        prefix + "DELIVERY_RETRY_CAP_SECONDS": "0.5", "SMARTSLOT_DB_POOL_MAX_SIZE": "20",
        "SMARTSLOT_LOG_LEVEL": os.environ.get("SMARTSLOT_LOG_LEVEL", "INFO"),
        "PYTHONUNBUFFERED": "1",  # the killed process's log must not die in its buffer
    }


async def test_kill_9_then_restart_sends_each_email_exactly_once(fresh_sink, notifier):
    sink = fresh_sink
    async with isolated_stack(services=("notifier",)) as stack:
        processes = ServiceStack(stack.env | fast_env(sink.port), REPO_ROOT / "var" / "test-logs" / stack.run_id)
        amqp = await aio_pika.connect_robust(stack.amqp_url)
        db = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=3, server_settings={
            "search_path": "notifier", "application_name": "notifier-tests"})
        publisher = EventPublisher(amqp, stack.namespace)
        try:
            async with amqp.channel() as channel:
                await declare_topology(channel, stack.namespace)
            processes.start("notifier")
            await processes.wait_ready("notifier")

            async def publish_batch() -> list[dict]:
                payloads = [notifier.appointment() for _ in range(PER_BATCH)]
                for payload in payloads:
                    await publisher.publish(Event.create("appointment.confirmed", payload, producer="tests"))
                return payloads

            async def count(sql: str, *args) -> int:
                return int(await db.fetchval(sql, *args))

            # A: sent and recorded.
            batch_a = await publish_batch()
            await wait_for(lambda: count("SELECT count(*) = $1 FROM deliveries WHERE status = 'sent'", PER_BATCH),
                           WAIT, what="batch A sent and recorded")
            # B: applied and acked, emails in flight but held by the server before anything is accepted.
            sink.hold()
            held_before = sink.handler.held
            batch_b = await publish_batch()

            async def b_in_flight() -> bool:
                return sink.handler.held - held_before >= PER_BATCH and await count(
                    "SELECT count(*) FROM deliveries WHERE status = 'pending'") == PER_BATCH

            await wait_for(b_in_flight, WAIT, what="batch B's sends held by the server")
            # C: delivered to the process, unacked: the consumer waits on the inbox the test has locked.
            locker = await db.acquire()
            locking = locker.transaction()
            await locking.start()
            await locker.execute("LOCK TABLE inbox IN EXCLUSIVE MODE")
            batch_c = await publish_batch()

            async def c_unacked() -> bool:
                waiting = await count(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO inbox%'")
                async with amqp.channel() as channel:
                    queue = await channel.declare_queue(queue_name(stack.namespace, "notifier"), passive=True)
                    ready = queue.declaration_result.message_count
                return waiting >= 1 and ready == 0  # the consumer's batch waits; the rest is in its hand

            await wait_for(c_unacked, WAIT, what="batch C held unacked by the notifier")
            assert len(sink.handler.received) == PER_BATCH  # some but not all emails arrived

            processes.kill("notifier")

            # The killed process's sessions would otherwise live on until the lock is released.
            await db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                             "datname = current_database() AND application_name = 'smartslot-notifier'")
            await locking.rollback()
            await db.release(locker)
            sink.release()
            assert len(sink.handler.received) == PER_BATCH

            processes.start("notifier")
            await processes.wait_ready("notifier")

            async def everything_sent() -> bool:
                return await count("SELECT count(*) FROM deliveries WHERE status = 'sent'") == 3 * PER_BATCH

            await wait_for(everything_sent, WAIT, what="every email sent after the restart")
            attempts = {row["appointment_id"]: row["attempts"] for row in await db.fetch(
                "SELECT appointment_id, attempts FROM deliveries")}
            inbox = await count("SELECT count(*) FROM inbox")
        finally:
            processes.stop("notifier")
            await publisher.close()
            await db.close()
            await amqp.close()

    received = sink.handler.received
    by_appointment = [mail.appointment_id for mail in received]
    expected = {payload["appointment_id"] for payload in batch_a + batch_b + batch_c}
    assert len(received) == 3 * PER_BATCH
    assert sorted(by_appointment) == sorted(expected)  # each appointment's email exactly once
    assert len({mail.message_id for mail in received}) == 3 * PER_BATCH
    assert inbox == 3 * PER_BATCH
    # B was finished by the delivery poller after its lease ran out, not by consuming the event again.
    assert all(attempts[uuid.UUID(payload["appointment_id"])] >= 2 for payload in batch_b)
    assert all(attempts[uuid.UUID(payload["appointment_id"])] == 1 for payload in batch_a + batch_c)
