"""An appointment as an iCalendar (RFC 5545) invitation, built with `icalendar`.

The UID never changes for one appointment and SEQUENCE grows with every reschedule or cancellation, so calendar
clients replace their copy instead of adding a second event. Times are written in UTC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from icalendar import Calendar, Event

from smartslot_common.contracts.calendar import ics_uid

PRODID = "-//SmartSlot//Booking//EN"
# What the calendar shows for each appointment status; statuses that end the appointment without it taking place
# withdraw the invitation.
EVENT_STATUS = {"locked": "TENTATIVE", "draft": "TENTATIVE", "cancelled": "CANCELLED", "expired": "CANCELLED"}
WITHDRAWN = frozenset({"CANCELLED"})


@dataclass(frozen=True)
class CalendarEntry:
    """Everything an invitation shows about one appointment."""

    appointment_id: uuid.UUID
    status: str
    starts_at: datetime
    ends_at: datetime
    sequence: int
    service_name: str
    provider_name: str
    clinic_name: str
    address: str | None
    stamped_at: datetime

    @property
    def uid(self) -> str:
        return ics_uid(self.appointment_id)

    @property
    def event_status(self) -> str:
        return EVENT_STATUS.get(self.status, "CONFIRMED")


def _event(entry: CalendarEntry) -> Event:
    event = Event()
    event.add("uid", entry.uid)
    event.add("dtstamp", entry.stamped_at.astimezone(UTC))
    event.add("dtstart", entry.starts_at.astimezone(UTC))
    event.add("dtend", entry.ends_at.astimezone(UTC))
    event.add("sequence", entry.sequence)
    event.add("summary", f"{entry.service_name} with {entry.provider_name}")
    event.add("location", ", ".join(part for part in (entry.clinic_name, entry.address) if part))
    event.add("status", entry.event_status)
    return event


def to_ics(entry: CalendarEntry) -> bytes:
    """The invitation (METHOD:REQUEST), or its withdrawal (METHOD:CANCEL) once the appointment will not happen."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if entry.event_status in WITHDRAWN else "REQUEST")
    calendar.add_component(_event(entry))
    # icalendar leaves to_ical unannotated; it returns the calendar's bytes.
    return cast(bytes, calendar.to_ical())
