"""What calendars know an appointment by: one UID for every version of its `.ics`, whoever writes it (booking's
`calendar.ics`, the notifier's email invitations), so a client updates or withdraws the event it already has."""

from __future__ import annotations

import uuid

UID_DOMAIN = "smartslot"


def ics_uid(appointment_id: uuid.UUID | str) -> str:
    """The iCalendar UID of an appointment: `<appointment id>@smartslot`."""
    return f"{appointment_id}@{UID_DOMAIN}"
