"""The notifier's retention on the real PostgreSQL: inbox rows, finished deliveries and finished reminders past their
windows go; pending deliveries, newer rows and the feed stay, however old; the job shows on /metrics."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from notifier import retention
from smartslot_common.retention import retain
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration


async def _inbox(db, count, age):
    ids = [uuid.uuid4() for _ in range(count)]
    await db.execute(
        "INSERT INTO inbox (consumer, event_id, event_type, received_at) "
        "SELECT 'retention-test', id, 'retention.test', now() - $2::interval FROM unnest($1::uuid[]) AS id",
        ids,
        age,
    )
    return ids


async def _deliveries(db, count, status, age):
    """`count` emails to nobody, queued `age` ago, in `status` (pending ones not due for a day)."""
    ids = [uuid.uuid4() for _ in range(count)]
    await db.execute(
        "INSERT INTO deliveries (id, channel, kind, status, source_id, recipient, message_id, content, max_attempts, "
        "next_attempt_at, created_at) "
        "SELECT id, 'email', 'retention-test', $2, gen_random_uuid(), 'nobody@example.com', id::text, '{}'::jsonb, 1, "
        "now() + interval '1 day', now() - $3::interval FROM unnest($1::uuid[]) AS id",
        ids,
        status,
        age,
    )
    return ids


async def _reminders(db, count, status, due):
    """`count` reminders in `status` that were due `due` ago."""
    ids = [uuid.uuid4() for _ in range(count)]
    await db.execute(
        "INSERT INTO reminders (id, appointment_id, user_id, offset_seconds, starts_at, due_at, status, appointment) "
        "SELECT id, gen_random_uuid(), gen_random_uuid(), 3600, now() - $3::interval + interval '1 hour', "
        "now() - $3::interval, $2, '{}'::jsonb FROM unnest($1::uuid[]) AS id",
        ids,
        status,
        due,
    )
    return ids


async def _count(db, query, ids):
    return await db.fetchval(query, ids)


async def test_one_pass_shrinks_each_table_to_its_window_and_keeps_the_feed(notifier):
    db = notifier.db
    old_inbox, new_inbox = await _inbox(db, 5, timedelta(days=15)), await _inbox(db, 3, timedelta(days=13))
    old_sent = await _deliveries(db, 3, "sent", timedelta(days=31))
    old_failed = await _deliveries(db, 2, "failed", timedelta(days=31))
    old_pending = await _deliveries(db, 2, "pending", timedelta(days=31))
    new_sent = await _deliveries(db, 2, "sent", timedelta(days=29))
    old_reminders = await _reminders(db, 2, "sent", timedelta(days=31)) + await _reminders(
        db, 1, "cancelled", timedelta(days=31)
    )
    new_reminders = await _reminders(db, 2, "missed", timedelta(days=29))
    user_id, notification_id = uuid.uuid4(), uuid.uuid4()
    await db.execute(
        "INSERT INTO notifications (id, user_id, kind, title, body, event_id, created_at) "
        "VALUES ($1, $2, 'confirmation', 'Booked', 'A year ago', gen_random_uuid(), now() - interval '400 days')",
        notification_id,
        user_id,
    )
    try:
        await retain(db, retention.policies(notifier.settings), batch_size=2)

        in_inbox = "SELECT count(*) FROM inbox WHERE event_id = ANY($1)"
        assert await _count(db, in_inbox, old_inbox) == 0
        assert await _count(db, in_inbox, new_inbox) == 3
        in_deliveries = "SELECT count(*) FROM deliveries WHERE id = ANY($1)"
        assert await _count(db, in_deliveries, old_sent + old_failed) == 0
        assert await _count(db, in_deliveries, old_pending) == 2, "a delivery still to be sent is never deleted"
        assert await _count(db, in_deliveries, new_sent) == 2
        in_reminders = "SELECT count(*) FROM reminders WHERE id = ANY($1)"
        assert await _count(db, in_reminders, old_reminders) == 0
        assert await _count(db, in_reminders, new_reminders) == 2
        reply = await notifier.call("GET", "/v1/notifications", notifier.who("client", user_id))
        assert reply.status == 200
        assert [item["id"] for item in reply.body["items"]] == [str(notification_id)]
    finally:
        await db.execute("DELETE FROM deliveries WHERE id = ANY($1)", old_pending)


async def test_the_retention_job_runs_in_the_service_and_its_metrics_are_on_metrics(notifier):
    async def exposition():
        async with notifier.http.get("/metrics") as response:
            body = await response.text()
        return body if 'smartslot_job_last_success_timestamp_seconds{background_job="retention"}' in body else None

    body = await wait_for(exposition, what="a finished retention run on /metrics")

    for table in ("inbox", "deliveries", "reminders"):
        assert f'smartslot_retention_rows_deleted_total{{table="{table}"}}' in body
        assert f'smartslot_retention_oldest_row_age_seconds{{table="{table}"}}' in body
