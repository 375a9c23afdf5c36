"""The MIME message built from a stored delivery: the same bytes on every attempt, with the .ics attached."""

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

from icalendar import Calendar

from notifier.adapters.smtp import build_message, wire_bytes
from notifier.domain import notices
from notifier.domain.emails import Email
from notifier.domain.notices import Letterhead
from smartslot_common.contracts.payloads import AppointmentPayload

CREATED = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def confirmation() -> Email:
    payload = AppointmentPayload(
        appointment_id="0b6c3f9e-1111-4222-8333-944455556666", status="confirmed",
        slot_id="0b6c3f9e-1111-4222-8333-944455556667", provider_id="0b6c3f9e-1111-4222-8333-944455556668",
        service_id="0b6c3f9e-1111-4222-8333-944455556669", client_id="0b6c3f9e-1111-4222-8333-94445555666a",
        starts_at="2026-12-01T08:30:00Z", ends_at="2026-12-01T09:00:00Z", timezone="Europe/Berlin",
        client_email="ada@example.com", client_name="Ädä Lovelace", service_name="Check-up", ics_sequence=1,
    )
    email = notices.confirmed(payload, Letterhead("SmartSlot <no-reply@smartslot.test>"), CREATED).email
    assert email is not None
    return Email.from_content(email.to_content())  # through the stored form, as the worker sees it


def test_stable_message_id_and_bytes():
    first = build_message(confirmation(), "SmartSlot <no-reply@smartslot.test>", "<d1@smartslot.test>", CREATED)
    again = build_message(confirmation(), "SmartSlot <no-reply@smartslot.test>", "<d1@smartslot.test>", CREATED)

    assert first["Message-ID"] == "<d1@smartslot.test>"
    assert first["X-SmartSlot-Appointment-Id"] == "0b6c3f9e-1111-4222-8333-944455556666"
    assert wire_bytes(first) == wire_bytes(again)


def test_parts_and_calendar_attachment():
    raw = wire_bytes(build_message(confirmation(), "SmartSlot <no-reply@smartslot.test>", "<d1@x>", CREATED))
    message = message_from_bytes(raw, policy=default)

    assert raw.isascii()  # 7-bit safe: no relay needs 8BITMIME
    assert str(message["To"]) == "Ädä Lovelace <ada@example.com>"
    assert str(message["Subject"]) == "Confirmed: Check-up, Tue 1 Dec 2026, 09:30 CET"
    types = [part.get_content_type() for part in message.walk()]
    assert types == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar"]
    ics = next(part for part in message.walk() if part.get_content_type() == "text/calendar")
    assert ics.get_param("method") == "REQUEST"
    assert ics.get_filename() == "invite.ics"
    calendar = Calendar.from_ical(ics.get_content())
    assert str(calendar.walk("VEVENT")[0]["UID"]) == "0b6c3f9e-1111-4222-8333-944455556666@smartslot"
