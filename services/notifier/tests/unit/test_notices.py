"""What each event tells the client, with every enrichment field, and with none of the optional ones."""

import uuid
from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from notifier.domain import notices
from notifier.domain.notices import Letterhead
from smartslot_common.contracts.payloads import AppointmentPayload, WaitlistOfferPayload

LETTERHEAD = Letterhead("SmartSlot <no-reply@smartslot.test>")
STAMP = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
STARTS = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
BERLIN = "Tuesday 1 December 2026, 09:30 CET (Europe/Berlin)"


def bare(**fields):
    """Only the fields booking fills today."""
    return AppointmentPayload(**({
        "appointment_id": uuid.uuid4(), "status": "confirmed", "slot_id": uuid.uuid4(), "provider_id": uuid.uuid4(),
        "service_id": uuid.uuid4(), "client_id": uuid.uuid4(), "starts_at": STARTS,
        "ends_at": STARTS + timedelta(minutes=30),
    } | fields))


def full(**fields):
    return bare(**({
        "timezone": "Europe/Berlin", "service_name": "Check-up", "provider_name": "Dr. Weber",
        "clinic_name": "Praxis Mitte", "clinic_address": "Torstraße 1", "client_email": "ada@example.com",
        "client_name": "Ada", "currency": "EUR",
    } | fields))


def test_confirmation_in_the_providers_zone_with_an_invitation():
    notice = notices.confirmed(full(), LETTERHEAD, STAMP)

    assert notice.email is not None
    assert notice.email.subject == "Confirmed: Check-up with Dr. Weber, Tue 1 Dec 2026, 09:30 CET"
    assert BERLIN in notice.email.text
    assert BERLIN in notice.email.html
    assert "Praxis Mitte, Torstraße 1" in notice.email.text
    assert notice.email.ics_method == "REQUEST"
    assert notice.feed.body == f"Check-up with Dr. Weber on {BERLIN} is confirmed."


def test_without_the_optional_fields_utc_and_your_appointment_and_no_email():
    notice = notices.confirmed(bare(), LETTERHEAD, STAMP)

    assert notice.email is None  # no address to send to
    assert notice.feed.body == "Your appointment on Tuesday 1 December 2026, 08:30 UTC is confirmed."


def test_with_only_an_address_the_email_reads_in_utc():
    notice = notices.confirmed(bare(client_email="ada@example.com"), LETTERHEAD, STAMP)

    assert notice.email.subject == "Confirmed: your appointment, Tue 1 Dec 2026, 08:30 UTC"
    assert "Tuesday 1 December 2026, 08:30 UTC" in notice.email.text
    assert notice.email.text.startswith("Hello,\n")


def test_names_cannot_inject_markup_into_the_html():
    notice = notices.confirmed(full(client_name="<script>x</script>", provider_name="Dr. <b>"), LETTERHEAD, STAMP)

    assert "<script>" not in notice.email.html
    assert "&lt;script&gt;" in notice.email.html
    assert "Dr. &lt;b&gt;" in notice.email.html
    assert "<script>x</script>" in notice.email.text  # plain text is not HTML


def test_cancellation_states_the_fee_in_its_currency_and_withdraws_the_invitation():
    notice = notices.cancelled(full(fee_cents=2250, cancelled_by="client", ics_sequence=2), LETTERHEAD, STAMP)

    assert "A cancellation fee of €22.50 applies." in notice.email.text
    assert "<strong>€22.50</strong>" in notice.email.html
    assert notice.email.ics_method == "CANCEL"
    [event] = Calendar.from_ical(notice.email.ics).walk("VEVENT")
    assert int(event["SEQUENCE"]) == 2
    assert notice.feed.body.endswith("A cancellation fee of €22.50 applies.")


def test_waived_fee_and_who_cancelled():
    notice = notices.cancelled(full(fee_cents=0, cancelled_by="provider"), LETTERHEAD, STAMP)

    assert "No cancellation fee applies." in notice.email.text
    assert "cancelled by Dr. Weber" in notice.email.text


def test_reschedule_names_both_times():
    previous = {"slot_id": uuid.uuid4(), "provider_id": uuid.uuid4(), "starts_at": STARTS - timedelta(days=1),
                "ends_at": STARTS - timedelta(days=1, minutes=-30)}
    notice = notices.rescheduled(full(previous=previous, ics_sequence=1), LETTERHEAD, STAMP)

    assert "from Monday 30 November 2026, 09:30 CET (Europe/Berlin)" in notice.email.text
    assert BERLIN in notice.email.text
    assert notice.email.ics_method == "REQUEST"


def test_waitlist_offer_states_its_deadline_locally():
    offer = WaitlistOfferPayload(
        offer_id=uuid.uuid4(), entry_id=uuid.uuid4(), client_id=uuid.uuid4(), slot_id=uuid.uuid4(),
        service_id=uuid.uuid4(), starts_at=STARTS, offer_expires_at=datetime(2026, 11, 30, 9, 5, tzinfo=UTC),
        timezone="Europe/Berlin", service_name="Check-up", client_email="ada@example.com",
    )

    notice = notices.offer_made(offer)

    assert "Confirm it before Monday 30 November 2026, 10:05 CET (Europe/Berlin)" in notice.email.text
    assert notice.email.subject == "A place opened up: Check-up, confirm by 10:05 CET"
    assert notice.email.ics is None


def test_reminder_says_how_soon():
    notice = notices.reminder(full(), 3600, LETTERHEAD, STAMP)

    assert notice.email.subject == "Reminder: Check-up with Dr. Weber in 1 hour, Tue 1 Dec 2026, 09:30 CET"
    assert "in 1 hour" in notice.email.text


def test_a_waitlist_hold_is_told_by_its_offer_not_as_a_hold():
    assert notices.hold_placed(full(status="locked", hold_expires_at=STARTS)).feed.kind == "hold_placed"


def test_a_no_show_is_a_feed_entry_naming_whom_to_contact_and_no_email():
    notice = notices.no_show(full(status="no_show"))

    assert notice.email is None
    assert (notice.feed.kind, notice.feed.title) == ("no_show", "Marked as a no-show")
    assert notice.feed.body == (f"Check-up with Dr. Weber on {BERLIN} was marked as a no-show: you were not seen. "
                                "If you were there, please contact Praxis Mitte.")


def test_a_no_show_without_names_still_reads():
    body = notices.no_show(bare(status="no_show")).feed.body
    assert body.startswith("Your appointment on Tuesday 1 December 2026, 08:30 UTC was marked as a no-show")
    assert body.endswith("please contact the clinic.")
