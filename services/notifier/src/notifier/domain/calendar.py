"""The `.ics` sent with appointment emails (RFC 5545/5546 via `icalendar`).

The UID is booking's (`<appointment id>@smartslot`, as in its calendar.ics) and SEQUENCE is the event's
`ics_sequence`, so a calendar client updates or withdraws the one event it already has instead of adding another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Literal, cast

from icalendar import Calendar, Event, vCalAddress, vText

from notifier.domain.local_time import utc

PRODID = "-//SmartSlot//Notifier//EN"
Method = Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class Invitation:
    """What the calendar entry shows about one appointment."""

    appointment_id: str
    method: Method
    sequence: int
    starts_at: datetime
    ends_at: datetime
    stamped_at: datetime
    summary: str
    location: str
    organizer: str  # an RFC 5322 address, "Name <addr>" or "addr"
    attendee_email: str | None
    attendee_name: str | None

    @property
    def uid(self) -> str:
        return f"{self.appointment_id}@smartslot"


def _address(email: str, name: str | None, role: str | None = None) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["cn"] = vText(name)
    if role:
        address.params["role"] = vText(role)
    return address


def to_ics(invitation: Invitation) -> str:
    """The calendar object, as text."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", invitation.method)
    event = Event()
    event.add("uid", invitation.uid)
    event.add("sequence", invitation.sequence)
    event.add("dtstamp", utc(invitation.stamped_at))
    event.add("dtstart", utc(invitation.starts_at))
    event.add("dtend", utc(invitation.ends_at))
    event.add("summary", invitation.summary)
    if invitation.location:
        event.add("location", invitation.location)
    event.add("status", "CANCELLED" if invitation.method == "CANCEL" else "CONFIRMED")
    organizer_name, organizer_email = parseaddr(invitation.organizer)
    event.add("organizer", _address(organizer_email, organizer_name or None))
    if invitation.attendee_email:
        event.add("attendee", _address(invitation.attendee_email, invitation.attendee_name, "REQ-PARTICIPANT"))
    calendar.add_component(event)
    # icalendar leaves to_ical unannotated; it returns the calendar's bytes.
    return cast(bytes, calendar.to_ical()).decode()
