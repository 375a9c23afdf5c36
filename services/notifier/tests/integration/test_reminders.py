"""Reminders: one row per offset (24 h and 1 h) when confirmed, re-planned on reschedule, cancelled on
cancellation, none in the past; due ones are sent once, also with several pollers at work."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from notifier.adapters.smtp import SmtpSender
from notifier.adapters.webhook_http import WebhookSender
from notifier.service_layer.delivery_worker import DeliveryWorker
from notifier.service_layer.reminder_poller import ReminderPoller
from smartslot_common.db import create_pool
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration

DAY, HOUR = 86400, 3600


def ahead(**delta) -> datetime:
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


async def reminders_of(notifier, appointment_id):
    return await notifier.db.fetch(
        "SELECT * FROM reminders WHERE appointment_id = $1 ORDER BY created_at, due_at", uuid.UUID(appointment_id)
    )


async def applied(notifier, event):
    async def claimed():
        return await notifier.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event.id)

    await wait_for(claimed, 15, what=f"{event.type} applied")


async def confirmed(notifier, **fields):
    payload = notifier.appointment(**fields)
    await applied(notifier, await notifier.publish("appointment.confirmed", payload))
    return payload


async def make_due(notifier, reminder_ids):
    """The controllable clock: move these reminders' due time into the past (the poller reads `now()`)."""
    await notifier.db.execute(
        "UPDATE reminders SET due_at = now() - interval '1 second' WHERE id = ANY($1::uuid[])", reminder_ids
    )


def reminder_mails(notifier, payload):
    return [mail for mail in notifier.sink.to(payload["client_email"]) if mail.kind == "reminder"]


async def test_confirmation_plans_one_row_per_offset(notifier):
    starts = ahead(days=3)
    payload = await confirmed(notifier, starts_at=starts)

    rows = await reminders_of(notifier, payload["appointment_id"])

    assert [(row["offset_seconds"], row["due_at"], row["status"]) for row in rows] == [
        (DAY, starts - timedelta(days=1), "scheduled"), (HOUR, starts - timedelta(hours=1), "scheduled"),
    ]
    assert {row["user_id"] for row in rows} == {uuid.UUID(payload["client_id"])}


@pytest.mark.parametrize(("starts_in", "offsets"), [
    (timedelta(hours=2), [HOUR]), (timedelta(minutes=30), []), (-timedelta(days=1), []),
])
async def test_none_in_the_past(notifier, starts_in, offsets):
    payload = await confirmed(notifier, starts_at=datetime.now(UTC) + starts_in)

    assert [row["offset_seconds"] for row in await reminders_of(notifier, payload["appointment_id"])] == offsets


async def test_a_reminder_goes_out_when_due_by_the_clock(notifier):
    """No clock tricks: the 1 h reminder of an appointment 1 h and 2 s away goes out two seconds later."""
    lag_before = REGISTRY.get_sample_value("smartslot_notifier_reminder_lag_seconds_count") or 0
    payload = await confirmed(notifier, starts_at=datetime.now(UTC) + timedelta(hours=1, seconds=2))
    [row] = await reminders_of(notifier, payload["appointment_id"])

    [mail] = await wait_for(lambda: _async(reminder_mails(notifier, payload)), 15, what="the reminder")

    assert datetime.now(UTC) >= row["due_at"]
    assert mail.message["Subject"].startswith("Reminder: Check-up with Dr. Weber in 1 hour")
    assert (await reminders_of(notifier, payload["appointment_id"]))[0]["status"] == "sent"
    assert REGISTRY.get_sample_value("smartslot_notifier_reminder_lag_seconds_count") > lag_before


async def test_due_reminder_sent_once_and_the_other_still_waits(notifier):
    payload = await confirmed(notifier, starts_at=ahead(days=3))
    day_before, hour_before = await reminders_of(notifier, payload["appointment_id"])

    await make_due(notifier, [day_before["id"]])

    [mail] = await wait_for(lambda: _async(reminder_mails(notifier, payload)), 15, what="the 24 h reminder")
    assert "in 24 hours" in mail.text()
    poller = ReminderPoller(notifier.db, notifier.settings, notifier.app[_worker_key()])
    for _ in range(3):  # more passes find nothing more to send
        await poller.dispatch_due()
    rows = {row["id"]: row for row in await reminders_of(notifier, payload["appointment_id"])}
    assert (rows[day_before["id"]]["status"], rows[hour_before["id"]]["status"]) == ("sent", "scheduled")
    assert await notifier.db.fetchval("SELECT count(*) FROM deliveries WHERE source_id = $1", day_before["id"]) == 1
    [row] = await notifier.settled(day_before["id"])
    assert row["status"] == "sent"
    assert len(reminder_mails(notifier, payload)) == 1
    kinds = [entry["kind"] for entry in (await notifier.call(
        "GET", "/v1/notifications", notifier.who("client", payload["client_id"]))).body["items"]]
    assert kinds == ["reminder", "confirmation"]


async def test_cancelled_reminders_are_never_sent(notifier):
    payload = await confirmed(notifier, starts_at=ahead(days=3))
    cancellation = payload | {"status": "cancelled", "ics_sequence": 1, "cancelled_by": "client", "fee_cents": 0}
    await applied(notifier, await notifier.publish("appointment.cancelled", cancellation))
    rows = await reminders_of(notifier, payload["appointment_id"])
    assert [row["status"] for row in rows] == ["cancelled", "cancelled"]

    await make_due(notifier, [row["id"] for row in rows])
    poller = ReminderPoller(notifier.db, notifier.settings, notifier.app[_worker_key()])
    await poller.dispatch_due()

    await notifier.mail_to(payload["client_email"], 2)  # confirmation and cancellation
    assert [row["status"] for row in await reminders_of(notifier, payload["appointment_id"])] == ["cancelled"] * 2
    assert await notifier.db.fetchval(
        "SELECT count(*) FROM deliveries WHERE source_id = ANY($1::uuid[])", [row["id"] for row in rows]) == 0
    assert reminder_mails(notifier, payload) == []


async def test_reschedule_replans(notifier):
    first = ahead(days=3)
    payload = await confirmed(notifier, starts_at=first)
    moved_to = ahead(days=5)
    moved = payload | {"starts_at": moved_to.isoformat(), "ends_at": (moved_to + timedelta(minutes=30)).isoformat(),
                       "ics_sequence": 1}

    await applied(notifier, await notifier.publish("appointment.rescheduled", moved))

    rows = await reminders_of(notifier, payload["appointment_id"])
    assert [(row["status"], row["due_at"]) for row in rows] == [
        ("cancelled", first - timedelta(days=1)), ("cancelled", first - timedelta(hours=1)),
        ("scheduled", moved_to - timedelta(days=1)), ("scheduled", moved_to - timedelta(hours=1)),
    ]


async def test_several_pollers_send_each_due_reminder_once(notifier, stack):
    """Three more pollers, each with its own pool, race the app's own over the same due rows."""
    payloads = [await confirmed(notifier, starts_at=ahead(days=2, minutes=n)) for n in range(12)]
    due_ids = [(await reminders_of(notifier, payload["appointment_id"]))[0]["id"] for payload in payloads]
    pools = [await create_pool(stack.database_url, "notifier", min_size=1, max_size=2) for _ in range(3)]
    try:
        pollers = [ReminderPoller(pool, notifier.settings, DeliveryWorker(
            pool, notifier.settings, SmtpSender(notifier.settings), WebhookSender(None, 1.0, None)  # type: ignore[arg-type]
        )) for pool in pools]
        await make_due(notifier, due_ids)
        dispatched = await asyncio.gather(*(poller.dispatch_due() for poller in pollers))

        async def all_sent():
            return await notifier.db.fetchval(
                "SELECT count(*) = $2 FROM reminders WHERE id = ANY($1::uuid[]) AND status = 'sent'", due_ids, 12)

        await wait_for(all_sent, 15, what="every due reminder dispatched")
        for payload in payloads:
            await notifier.mail_to(payload["client_email"], 2)  # confirmation and one reminder
    finally:
        for pool in pools:
            await pool.close()

    assert sum(dispatched) <= 12
    assert await notifier.db.fetchval(
        "SELECT count(*) FROM deliveries WHERE source_id = ANY($1::uuid[])", due_ids) == 12
    for payload in payloads:
        assert len(reminder_mails(notifier, payload)) == 1


async def _async(value):
    return value


def _worker_key():
    from notifier.app_keys import WORKER

    return WORKER


async def test_a_no_show_cancels_the_pending_reminders_and_tells_the_client_in_the_feed_only(notifier):
    payload = await confirmed(notifier, starts_at=ahead(days=3))
    no_show = await notifier.publish("appointment.no_show", payload | {"status": "no_show"})
    await applied(notifier, no_show)
    rows = await reminders_of(notifier, payload["appointment_id"])
    assert [row["status"] for row in rows] == ["cancelled", "cancelled"]

    await make_due(notifier, [row["id"] for row in rows])
    poller = ReminderPoller(notifier.db, notifier.settings, notifier.app[_worker_key()])
    await poller.dispatch_due()

    [confirmation] = await notifier.mail_to(payload["client_email"], 1)
    assert confirmation.kind == "confirmation"
    emails_of_the_no_show = "SELECT count(*) FROM deliveries WHERE source_id = $1 AND channel = 'email'"
    assert await notifier.db.fetchval(emails_of_the_no_show, no_show.id) == 0
    assert [row["status"] for row in await reminders_of(notifier, payload["appointment_id"])] == ["cancelled"] * 2
    assert await notifier.db.fetchval(
        "SELECT count(*) FROM deliveries WHERE source_id = ANY($1::uuid[])", [row["id"] for row in rows]) == 0
    assert reminder_mails(notifier, payload) == []
    feed = (await notifier.call("GET", "/v1/notifications", notifier.who("client", payload["client_id"]))).body
    assert [(item["kind"], item["title"]) for item in feed["items"]] == [
        ("no_show", "Marked as a no-show"), ("confirmation", "Booking confirmed")]
    assert feed["items"][0]["appointment_id"] == payload["appointment_id"]
