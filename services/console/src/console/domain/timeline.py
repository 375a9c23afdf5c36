"""A provider's day as a time line: slots and appointments placed by their local start and end (pure geometry for
the SVG the template draws; the same items are listed beside it for keyboards and screen readers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from console.adapters.shapes import Appointment, Slot

HOUR_HEIGHT = 40  # SVG units per hour
LIVE = ("locked", "confirmed")


@dataclass(frozen=True)
class Block:
    y: float
    height: float
    kind: str  # "open", "full", "blocked", or the appointment's status
    label: str


@dataclass(frozen=True)
class Column:
    day: date
    blocks: list[Block]


@dataclass(frozen=True)
class Timeline:
    first_hour: int
    last_hour: int
    columns: list[Column]

    @property
    def height(self) -> int:
        return (self.last_hour - self.first_hour) * HOUR_HEIGHT

    @property
    def hours(self) -> list[tuple[int, int]]:
        """(hour, y) of each hour line."""
        return [(hour, (hour - self.first_hour) * HOUR_HEIGHT) for hour in range(self.first_hour, self.last_hour + 1)]


def _hours(moment: datetime, day: date, zone: ZoneInfo) -> float:
    """Hours since local midnight of `day` (clipped to the day)."""
    midnight = datetime.combine(day, time(0), zone)
    return max(0.0, min(24.0, (moment - midnight).total_seconds() / 3600))


def slot_kind(slot: Slot) -> str:
    if slot.status != "open":
        return "blocked"
    return "full" if slot.held + slot.booked >= slot.capacity else "open"


def column(day: date, zone: ZoneInfo, slots: Sequence[Slot], appointments: Sequence[Appointment],
           first_hour: int) -> Column:
    blocks = []
    for slot in slots:
        start, end = _hours(slot.starts_at, day, zone), _hours(slot.ends_at, day, zone)
        blocks.append(Block((start - first_hour) * HOUR_HEIGHT, max((end - start) * HOUR_HEIGHT, 2), slot_kind(slot),
                            f"{slot.starts_at.astimezone(zone):%H:%M} slot, {slot_kind(slot)}"))
    for appointment in appointments:
        if appointment.status not in (*LIVE, "completed", "no_show"):
            continue
        start, end = _hours(appointment.starts_at, day, zone), _hours(appointment.ends_at, day, zone)
        blocks.append(Block((start - first_hour) * HOUR_HEIGHT, max((end - start) * HOUR_HEIGHT, 2),
                            appointment.status,
                            f"{appointment.starts_at.astimezone(zone):%H:%M} appointment, {appointment.status}"))
    return Column(day, blocks)


def hour_range(zone: ZoneInfo, days: Sequence[tuple[date, Sequence[Slot], Sequence[Appointment]]]) -> tuple[int, int]:
    """The local hours the days' items span, widened to at least 08:00-18:00."""
    starts, ends = [8.0], [18.0]
    for day, slots, appointments in days:
        spans = [(slot.starts_at, slot.ends_at) for slot in slots] + [(a.starts_at, a.ends_at) for a in appointments]
        for starts_at, ends_at in spans:
            starts.append(_hours(starts_at, day, zone))
            ends.append(_hours(ends_at, day, zone))
    return int(min(starts)), min(24, int(-(-max(ends) // 1)))


def timeline(zone: ZoneInfo, days: Sequence[tuple[date, Sequence[Slot], Sequence[Appointment]]]) -> Timeline:
    """Columns for each day, on one shared hour scale."""
    first, last = hour_range(zone, days)
    return Timeline(first, last, [column(day, zone, slots, appointments, first) for day, slots, appointments in days])
