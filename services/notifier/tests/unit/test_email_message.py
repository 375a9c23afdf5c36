"""The MIME message built from a stored delivery: the same bytes on every attempt, with the .ics attached, and the
same message as `email.message.EmailMessage` would build (read back with the standard parser)."""

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

import pytest
from icalendar import Calendar

from notifier.adapters.mime import _through_email_message, message_bytes
from notifier.domain import notices
from notifier.domain.emails import Email
from notifier.domain.notices import Letterhead
from smartslot_common.contracts.payloads import AppointmentPayload

CREATED = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def payload(**changes: object) -> AppointmentPayload:
    values = {
        "appointment_id": "0b6c3f9e-1111-4222-8333-944455556666", "status": "confirmed",
        "slot_id": "0b6c3f9e-1111-4222-8333-944455556667", "provider_id": "0b6c3f9e-1111-4222-8333-944455556668",
        "service_id": "0b6c3f9e-1111-4222-8333-944455556669", "client_id": "0b6c3f9e-1111-4222-8333-94445555666a",
        "starts_at": "2026-12-01T08:30:00Z", "ends_at": "2026-12-01T09:00:00Z", "timezone": "Europe/Berlin",
        "client_email": "ada@example.com", "client_name": "Ädä Lovelace", "service_name": "Check-up",
        "clinic_name": "Praxis Mitte", "clinic_address": "Torstraße 1, Berlin", "ics_sequence": 1,
    }
    return AppointmentPayload.model_validate(values | changes)


def confirmation() -> Email:
    email = notices.confirmed(payload(clinic_name=None, clinic_address=None),
                              Letterhead("SmartSlot <no-reply@smartslot.test>"), CREATED).email
    assert email is not None
    return Email.from_content(email.to_content())  # through the stored form, as the worker sees it


def test_stable_message_id_and_bytes():
    first = message_bytes(confirmation(), "SmartSlot <no-reply@smartslot.test>", "<d1@smartslot.test>", CREATED)
    again = message_bytes(confirmation(), "SmartSlot <no-reply@smartslot.test>", "<d1@smartslot.test>", CREATED)
    message = message_from_bytes(first, policy=default)

    assert message["Message-ID"] == "<d1@smartslot.test>"
    assert message["X-SmartSlot-Appointment-Id"] == "0b6c3f9e-1111-4222-8333-944455556666"
    assert first == again


def test_parts_and_calendar_attachment():
    raw = message_bytes(confirmation(), "SmartSlot <no-reply@smartslot.test>", "<d1@x>", CREATED)
    message = message_from_bytes(raw, policy=default)

    assert raw.isascii()  # 7-bit safe: no relay needs 8BITMIME
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert str(message["To"]) == "Ädä Lovelace <ada@example.com>"
    assert str(message["Subject"]) == "Confirmed: Check-up, Tue 1 Dec 2026, 09:30 CET"
    types = [part.get_content_type() for part in message.walk()]
    assert types == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar"]
    ics = next(part for part in message.walk() if part.get_content_type() == "text/calendar")
    assert ics.get_param("method") == "REQUEST"
    assert ics.get_filename() == "invite.ics"
    calendar = Calendar.from_ical(ics.get_content())
    assert str(calendar.walk("VEVENT")[0]["UID"]) == "0b6c3f9e-1111-4222-8333-944455556666@smartslot"


NAMES = [
    {},
    {"client_name": "Ädä Lovelace", "provider_name": "Dr. Müller-Lüdenscheidt", "service_name": "Zahnreinigung " * 12},
    {"client_name": 'Weird, "Name" <x>', "provider_name": None, "clinic_address": None},
    {"client_name": None, "service_name": "x" * 1500},
]


@pytest.mark.parametrize("names", NAMES)
@pytest.mark.parametrize("mail_from", ["SmartSlot <no-reply@smartslot.test>", "Praxis Müller <no-reply@x.test>"])
@pytest.mark.parametrize("kind", ["confirmed", "cancelled"])
def test_the_message_reads_back_as_the_standard_librarys_would(names, mail_from, kind):
    email = getattr(notices, kind)(payload(**names), Letterhead(mail_from), CREATED).email
    assert email is not None

    ours = message_from_bytes(message_bytes(email, mail_from, "<d2@x>", CREATED), policy=default)
    theirs = message_from_bytes(_through_email_message(email, mail_from, "<d2@x>", CREATED), policy=default)

    for header in ("From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "X-SmartSlot-Kind",
                   "X-SmartSlot-Appointment-Id"):
        assert str(ours[header]) == str(theirs[header]), header
    assert _parts(ours) == _parts(theirs)
    assert not any(part.defects for part in ours.walk())


def test_a_line_break_in_a_name_cannot_add_a_header():
    email = notices.confirmed(payload(service_name="Check-up\r\nBcc: everyone@example.com"),
                              Letterhead("SmartSlot <no-reply@x.test>"), CREATED).email
    assert email is not None

    message = message_from_bytes(message_bytes(email, "SmartSlot <no-reply@x.test>", "<d3@x>", CREATED),
                                 policy=default)

    assert message["Bcc"] is None
    assert "Bcc: everyone@example.com" in str(message["Subject"])


def test_an_address_that_needs_smtputf8_is_unusable():
    email = notices.confirmed(payload(client_email="ädä@example.com"), Letterhead("SmartSlot <no-reply@x.test>"),
                              CREATED).email
    assert email is not None

    with pytest.raises(ValueError, match="non-ASCII"):
        message_bytes(email, "SmartSlot <no-reply@x.test>", "<d4@x>", CREATED)


def _parts(message):
    return [(part.get_content_type(), None if part.is_multipart() else part.get_content(), part.get_filename(),
             part.get_param("method")) for part in message.walk()]
