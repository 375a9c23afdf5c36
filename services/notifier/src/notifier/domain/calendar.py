"""The `.ics` sent with appointment emails (RFC 5545/5546).

The UID is the shared `ics_uid` (`<appointment id>@smartslot`, as in booking's calendar.ics) and SEQUENCE is the
event's `ics_sequence`, so a calendar client updates or withdraws the one event it already has instead of adding
another.

Written line by line rather than through `icalendar`'s object model: one VEVENT of fixed shape needs only the
format's escaping and folding, and building it through the library cost about 0.3 ms per email (tests parse every
output back with `icalendar`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from functools import lru_cache
from typing import Literal

from notifier.domain.local_time import utc
from smartslot_common.contracts.calendar import ics_uid

PRODID = "-//SmartSlot//Notifier//EN"
FOLD_AT = 75  # octets per content line, CRLF excluded
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
        return ics_uid(self.appointment_id)


def to_ics(invitation: Invitation) -> str:
    """The calendar object, as text (CRLF line ends, lines folded at 75 octets)."""
    organizer_name, organizer_email = _parsed_address(invitation.organizer)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{invitation.method}",
        "BEGIN:VEVENT",
        f"UID:{_text(invitation.uid)}",
        f"SEQUENCE:{int(invitation.sequence)}",
        f"DTSTAMP:{_utc(invitation.stamped_at)}",
        f"DTSTART:{_utc(invitation.starts_at)}",
        f"DTEND:{_utc(invitation.ends_at)}",
        f"SUMMARY:{_text(invitation.summary)}",
    ]
    if invitation.location:
        lines.append(f"LOCATION:{_text(invitation.location)}")
    lines.append("STATUS:" + ("CANCELLED" if invitation.method == "CANCEL" else "CONFIRMED"))
    lines.append(_address("ORGANIZER", organizer_email, organizer_name or None))
    if invitation.attendee_email:
        lines.append(_address("ATTENDEE", invitation.attendee_email, invitation.attendee_name, "REQ-PARTICIPANT"))
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(_folded(line) + "\r\n" for line in lines)


@lru_cache(maxsize=16)
def _parsed_address(address: str) -> tuple[str, str]:
    """`parseaddr` of the organizer (the letterhead, the same for every email: parsed once, not per email)."""
    return parseaddr(address)


def _address(name: str, email: str, common_name: str | None, role: str | None = None) -> str:
    params = f";CN={_param(common_name)}" if common_name else ""
    if role:
        params += f";ROLE={role}"
    return f"{name}{params}:mailto:{_one_line(email)}"


def _utc(instant: datetime) -> str:
    return utc(instant).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """A TEXT value: backslash, semicolon and comma escaped, line breaks as \\n (RFC 5545, 3.3.11)."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _param(value: str) -> str:
    """A parameter value, always quoted (a double quote cannot appear inside one)."""
    return '"' + _one_line(value).replace('"', "'") + '"'


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _folded(line: str) -> str:
    """Fold a content line at 75 octets (continuations start with a space), never inside a UTF-8 sequence."""
    if len(line.encode()) <= FOLD_AT:
        return line
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for character in line:
        width = len(character.encode())
        if size + width > FOLD_AT - (1 if parts else 0):
            parts.append("".join(current))
            current, size = [], 0
        current.append(character)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts)
