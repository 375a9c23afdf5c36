"""The `.ics` parses back with icalendar and carries booking's UID, the event's SEQUENCE and the iTIP method."""

from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from notifier.domain.calendar import Invitation, to_ics

STARTS = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def invitation(method="REQUEST", sequence=0, **changes):
    values = {
        "appointment_id": "0b6c3f9e-1111-4222-8333-944455556666", "method": method, "sequence": sequence,
        "starts_at": STARTS, "ends_at": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        "stamped_at": datetime(2026, 11, 21, 10, 0, tzinfo=UTC), "summary": "Check-up with Dr. Weber",
        "location": "Praxis Mitte, Torstraße 1", "organizer": "Clinic <no-reply@x.test>",
        "attendee_email": "ada@example.com", "attendee_name": "Ada Lovelace",
    }
    return Invitation(**(values | changes))


@pytest.mark.parametrize(("method", "status"), [("REQUEST", "CONFIRMED"), ("CANCEL", "CANCELLED")])
def test_invitation_round_trips(method, status):
    calendar = Calendar.from_ical(to_ics(invitation(method, sequence=3)))
    [event] = calendar.walk("VEVENT")

    assert str(calendar["METHOD"]) == method
    assert str(event["UID"]) == "0b6c3f9e-1111-4222-8333-944455556666@smartslot"
    assert int(event["SEQUENCE"]) == 3
    assert event.decoded("DTSTART") == STARTS
    assert str(event["STATUS"]) == status
    assert str(event["ORGANIZER"]) == "mailto:no-reply@x.test"
    assert str(event["ATTENDEE"]) == "mailto:ada@example.com"
    assert str(event["LOCATION"]) == "Praxis Mitte, Torstraße 1"


def test_same_invitation_same_bytes():
    assert to_ics(invitation()) == to_ics(invitation())


def test_without_attendee_or_location():
    [event] = Calendar.from_ical(to_ics(invitation(attendee_email=None, location=""))).walk("VEVENT")

    assert "ATTENDEE" not in event
    assert "LOCATION" not in event


def test_text_with_separators_line_breaks_and_long_non_ascii_names_round_trips():
    summary = "Zahnreinigung; Kontrolle, \"gründlich\"\nbei Dr. Müller-Lüdenscheidt " + "ü" * 80
    location = "Praxis Mitte, Torstraße 1\\Hinterhaus; 2. OG"
    text = to_ics(invitation(summary=summary, location=location, attendee_name='Ädä "Ada" Lovelace, PhD',
                             organizer="Praxis Müller <no-reply@x.test>"))

    [event] = Calendar.from_ical(text).walk("VEVENT")

    assert str(event["SUMMARY"]) == summary
    assert str(event["LOCATION"]) == location
    assert event["ATTENDEE"].params["CN"] == "Ädä 'Ada' Lovelace, PhD"
    assert event["ORGANIZER"].params["CN"] == "Praxis Müller"
    lines = text.split("\r\n")
    assert lines[-1] == ""  # every line ends with CRLF
    assert all(len(line.encode()) <= 75 for line in lines)  # folded, never inside a UTF-8 sequence
