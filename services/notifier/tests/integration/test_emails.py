"""Emails as a client receives them from a real SMTP server: local time with the zone named, a valid `.ics`
(UID, SEQUENCE, METHOD, DTSTART parsed back with icalendar), and the same news in the in-app feed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration

STARTS = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
BERLIN = "Tuesday 1 December 2026, 09:30 CET (Europe/Berlin)"


def calendar_of(mail):
    calendar = Calendar.from_ical(mail.part("text/calendar").get_content())
    [event] = calendar.walk("VEVENT")
    return calendar, event


async def feed_of(notifier, client_id):
    reply = await notifier.call("GET", "/v1/notifications", notifier.who("client", client_id))
    assert reply.status == 200, reply.body
    return reply.body["items"]


async def feed_eventually(notifier, client_id, count=1):
    async def entries():
        items = await feed_of(notifier, client_id)
        return items if len(items) >= count else None

    return await wait_for(entries, 15, what=f"{count} feed entries")


async def inbox_has(notifier, event_id):
    async def claimed():
        return await notifier.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event_id)

    await wait_for(claimed, 15, what="the event applied")


async def test_confirmation_shows_local_time_and_carries_the_invitation(notifier):
    payload = notifier.appointment(starts_at=STARTS)

    event = await notifier.publish("appointment.confirmed", payload)

    [mail] = await notifier.mail_to(payload["client_email"])
    assert mail.message["Subject"] == "Confirmed: Check-up with Dr. Weber, Tue 1 Dec 2026, 09:30 CET"
    assert BERLIN in mail.text()
    assert BERLIN in mail.text("text/html")
    assert mail.appointment_id == payload["appointment_id"]
    calendar, invite = calendar_of(mail)
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(invite["UID"]) == f"{payload['appointment_id']}@smartslot"
    assert int(invite["SEQUENCE"]) == 0
    assert invite.decoded("DTSTART") == STARTS
    assert mail.part("text/calendar").get_param("method") == "REQUEST"
    [row] = await notifier.settled(event.id)
    assert (row["status"], row["attempts"], row["message_id"]) == ("sent", 1, mail.message_id)
    [entry] = await feed_of(notifier, payload["client_id"])
    assert (entry["kind"], entry["appointment_id"]) == ("confirmation", payload["appointment_id"])
    assert BERLIN in entry["body"]


async def test_summer_time_and_other_zones(notifier):
    summer = notifier.appointment(starts_at=datetime(2027, 7, 14, 7, 30, tzinfo=UTC))
    new_york = notifier.appointment(starts_at=STARTS, timezone="America/New_York")

    await notifier.publish("appointment.confirmed", summer)
    await notifier.publish("appointment.confirmed", new_york)

    [mail] = await notifier.mail_to(summer["client_email"])
    assert "Wednesday 14 July 2027, 09:30 CEST (Europe/Berlin)" in mail.text()
    [mail] = await notifier.mail_to(new_york["client_email"])
    assert "Tuesday 1 December 2026, 03:30 EST (America/New_York)" in mail.text()


async def test_cancellation_with_its_fee_withdraws_the_invitation(notifier):
    confirmed = notifier.appointment(starts_at=STARTS)
    cancelled = confirmed | {"status": "cancelled", "fee_cents": 2250, "currency": "EUR", "cancelled_by": "client",
                             "ics_sequence": 1}

    await notifier.publish("appointment.confirmed", confirmed)
    await notifier.mail_to(confirmed["client_email"])
    await notifier.publish("appointment.cancelled", cancelled)

    mail = (await notifier.mail_to(confirmed["client_email"], 2))[1]
    assert mail.message["Subject"] == "Cancelled: Check-up with Dr. Weber, Tue 1 Dec 2026, 09:30 CET"
    assert "A cancellation fee of €22.50 applies." in mail.text()
    assert BERLIN in mail.text()
    calendar, invite = calendar_of(mail)
    assert str(calendar["METHOD"]) == "CANCEL"
    assert (str(invite["UID"]), int(invite["SEQUENCE"])) == (f"{confirmed['appointment_id']}@smartslot", 1)
    assert str(invite["STATUS"]) == "CANCELLED"
    kinds = [entry["kind"] for entry in await feed_of(notifier, confirmed["client_id"])]
    assert kinds == ["cancellation", "confirmation"]


async def test_reschedule_sends_an_updated_invitation(notifier):
    confirmed = notifier.appointment(starts_at=STARTS)
    moved_to = STARTS + timedelta(days=2, hours=1)
    moved = notifier.appointment(
        **{key: confirmed[key] for key in ("appointment_id", "client_id", "client_email")},
        starts_at=moved_to, ics_sequence=1, status="confirmed",
        previous={"slot_id": confirmed["slot_id"], "provider_id": confirmed["provider_id"],
                  "starts_at": confirmed["starts_at"], "ends_at": confirmed["ends_at"]},
    )

    await notifier.publish("appointment.confirmed", confirmed)
    await notifier.mail_to(confirmed["client_email"])  # (a move overtaking its confirmation makes that one stale)
    await notifier.publish("appointment.rescheduled", moved)

    mails = await notifier.mail_to(confirmed["client_email"], 2)
    [mail] = [mail for mail in mails if mail.kind == "reschedule"]
    assert f"moved from {BERLIN}" in mail.text()
    assert "Thursday 3 December 2026, 10:30 CET (Europe/Berlin)" in mail.text()
    calendar, invite = calendar_of(mail)
    assert (str(calendar["METHOD"]), int(invite["SEQUENCE"])) == ("REQUEST", 1)
    assert invite.decoded("DTSTART") == moved_to


async def test_waitlist_offer_states_the_deadline(notifier):
    offer = notifier.offer(offer_expires_at=datetime(2026, 11, 30, 9, 5, tzinfo=UTC))

    await notifier.publish("waitlist.offer_made", offer)

    [mail] = await notifier.mail_to(offer["client_email"])
    assert "Confirm it before Monday 30 November 2026, 10:05 CET (Europe/Berlin)" in mail.text()
    assert mail.message["Subject"] == "A place opened up: Check-up with Dr. Weber, confirm by 10:05 CET"
    [entry] = await feed_of(notifier, offer["client_id"])
    assert entry["kind"] == "waitlist_offer"
    assert "10:05 CET" in entry["body"]


async def test_missing_enrichment_falls_back_to_utc_and_your_appointment(notifier):
    payload = notifier.appointment(starts_at=STARTS)
    for optional in ("timezone", "service_name", "provider_name", "clinic_name", "clinic_address", "client_name"):
        payload.pop(optional)

    await notifier.publish("appointment.confirmed", payload)

    [mail] = await notifier.mail_to(payload["client_email"])
    assert mail.message["Subject"] == "Confirmed: your appointment, Tue 1 Dec 2026, 08:30 UTC"
    assert "Tuesday 1 December 2026, 08:30 UTC" in mail.text()
    _, invite = calendar_of(mail)
    assert str(invite["SUMMARY"]) == "Your appointment"


async def test_without_an_address_only_the_feed_hears_it(notifier):
    payload = notifier.appointment(starts_at=STARTS)
    payload.pop("client_email")

    event = await notifier.publish("appointment.confirmed", payload)

    [entry] = await feed_eventually(notifier, payload["client_id"])
    assert entry["kind"] == "confirmation"
    assert await notifier.db.fetchval("SELECT count(*) FROM deliveries WHERE source_id = $1", event.id) == 0


async def test_a_hold_given_up_is_no_email_and_a_late_confirmation_changes_nothing(notifier):
    """A cancelled hold was never an invitation; a confirmation arriving after the cancellation is stale."""
    held = notifier.appointment(starts_at=STARTS, status="locked", hold_expires_at=datetime.now(UTC))
    given_up = held | {"status": "cancelled", "ics_sequence": 1, "cancelled_by": "client"}
    late = held | {"status": "confirmed"}

    await notifier.publish("appointment.locked", held)
    await feed_eventually(notifier, held["client_id"])
    cancel = await notifier.publish("appointment.cancelled", given_up)
    entries = await feed_eventually(notifier, held["client_id"], 2)
    stale = await notifier.publish("appointment.confirmed", late)
    await inbox_has(notifier, stale.id)

    assert [entry["kind"] for entry in entries] == ["cancellation", "hold_placed"]
    assert len(await feed_of(notifier, held["client_id"])) == 2
    assert await notifier.db.fetchval(
        "SELECT count(*) FROM deliveries WHERE source_id = ANY($1::uuid[])", [cancel.id, stale.id]) == 0
    assert await notifier.db.fetchval(
        "SELECT count(*) FROM reminders WHERE appointment_id = $1", uuid.UUID(held["appointment_id"])) == 0
    assert notifier.sink.to(held["client_email"]) == []


async def test_a_newer_confirmation_is_sent_and_a_repeated_one_is_not(notifier):
    """The first confirmation of an appointment records its version in the statement that queues its email; a
    later one is weighed against that version: sent when newer, ignored when it repeats it."""
    first = notifier.appointment(starts_at=STARTS)
    newer = first | {"ics_sequence": 1}

    await notifier.publish("appointment.confirmed", first)
    await notifier.mail_to(first["client_email"])
    updated = await notifier.publish("appointment.confirmed", newer)
    await notifier.mail_to(first["client_email"], 2)
    repeated = await notifier.publish("appointment.confirmed", newer)  # another event saying the same
    await inbox_has(notifier, repeated.id)

    sequences = [int(calendar_of(mail)[1]["SEQUENCE"]) for mail in notifier.sink.to(first["client_email"])]
    assert sorted(sequences) == [0, 1]
    assert await notifier.db.fetchval(
        "SELECT count(*) FROM deliveries WHERE source_id = $1", repeated.id) == 0
    [row] = await notifier.settled(updated.id)
    assert row["status"] == "sent"
