"""What reading an appointment produces without a database: the .ics invitation and the opaque list cursor."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from booking.adapters.ics import CalendarEntry, to_ics
from booking.service_layer.queries import Cursor

BERLIN = ZoneInfo("Europe/Berlin")
ENTRY = CalendarEntry(
    appointment_id=uuid.UUID("5f0c7e9a-8a51-4c1e-9d0b-0a8f2d6c1b11"),
    status="confirmed",
    starts_at=datetime(2031, 3, 30, 10, 30, tzinfo=BERLIN),  # the spring-forward day: 08:30 UTC
    ends_at=datetime(2031, 3, 30, 11, 0, tzinfo=BERLIN),
    sequence=0,
    service_name="Check-up",
    provider_name="Dr. Weber",
    clinic_name="Mitte",
    address="Invalidenstraße 1, 10115 Berlin",
    stamped_at=datetime(2031, 3, 1, 12, 0, tzinfo=UTC),
)


def parsed(entry: CalendarEntry) -> tuple[Calendar, object]:
    calendar = Calendar.from_ical(to_ics(entry))
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def test_a_confirmed_appointment_is_an_invitation_in_utc() -> None:
    calendar, event = parsed(ENTRY)
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == "5f0c7e9a-8a51-4c1e-9d0b-0a8f2d6c1b11@smartslot"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == datetime(2031, 3, 30, 8, 30, tzinfo=UTC)
    assert event.decoded("DTSTART").utcoffset() == timedelta(0)
    assert event.decoded("DTEND") == datetime(2031, 3, 30, 9, 0, tzinfo=UTC)
    assert str(event["SUMMARY"]) == "Check-up with Dr. Weber"
    assert str(event["LOCATION"]) == "Mitte, Invalidenstraße 1, 10115 Berlin"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert b"DTSTART:20310330T083000Z" in to_ics(ENTRY)


@pytest.mark.parametrize("status", ["cancelled", "expired"])
def test_an_appointment_that_will_not_happen_withdraws_the_invitation(status: str) -> None:
    calendar, event = parsed(replace(ENTRY, status=status, sequence=3))
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"
    assert event["SEQUENCE"] == 3


def test_a_hold_is_tentative() -> None:
    _, event = parsed(replace(ENTRY, status="locked"))
    assert str(event["STATUS"]) == "TENTATIVE"


def test_the_uid_is_stable_while_the_sequence_grows() -> None:
    moved = replace(ENTRY, starts_at=ENTRY.starts_at + timedelta(days=1), ends_at=ENTRY.ends_at + timedelta(days=1),
                    sequence=1)
    (_, first), (_, second) = parsed(ENTRY), parsed(moved)
    assert first["UID"] == second["UID"]
    assert second["SEQUENCE"] > first["SEQUENCE"]


def test_without_an_address_the_location_is_the_clinic() -> None:
    _, event = parsed(replace(ENTRY, address=None))
    assert str(event["LOCATION"]) == "Mitte"


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(starts_at=instants, id_=st.uuids())
def test_a_cursor_reads_back_as_it_was_written(starts_at: datetime, id_: uuid.UUID) -> None:
    cursor = Cursor(starts_at, id_)
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "raw",
    ["", "not base64!", base64.urlsafe_b64encode(b"{}").decode(), base64.urlsafe_b64encode(b"[1, 2]").decode(),
     base64.urlsafe_b64encode(b'["2031-01-01T00:00:00", "5f0c7e9a-8a51-4c1e-9d0b-0a8f2d6c1b11"]').decode(),
     base64.urlsafe_b64encode(b'["2031-01-01T00:00:00+00:00", "nope"]').decode()],
    ids=["empty", "garbage", "object", "numbers", "naive-time", "bad-id"],
)
def test_a_cursor_we_did_not_issue_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        Cursor.decode(raw)
