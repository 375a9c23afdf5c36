"""Times as people read them: slots grouped by local day, appointments split into upcoming and past, money."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from console.adapters.shapes import Appointment, OpenSlot

T = TypeVar("T")


@dataclass(frozen=True)
class SlotView:
    """One open slot as a button shows it."""

    slot: OpenSlot
    local_start: datetime
    local_end: datetime
    provider_name: str
    clinic_name: str


@dataclass(frozen=True)
class DayGroup:
    day: date
    slots: list[SlotView]


def group_by_day(slots: Iterable[OpenSlot], zone_of: Callable[[OpenSlot], ZoneInfo],
                 provider_name: Callable[[OpenSlot], str], clinic_name: Callable[[OpenSlot], str]) -> list[DayGroup]:
    """Slots (ordered by start) in groups per local day of their clinic's zone, days in order."""
    groups: dict[date, list[SlotView]] = {}
    for slot in slots:
        zone = zone_of(slot)
        start, end = slot.starts_at.astimezone(zone), slot.ends_at.astimezone(zone)
        groups.setdefault(start.date(), []).append(
            SlotView(slot, start, end, provider_name(slot), clinic_name(slot)))
    return [DayGroup(day, sorted(views, key=lambda view: view.slot.starts_at)) for day, views in sorted(groups.items())]


def split_upcoming(appointments: Sequence[Appointment], now: datetime) -> tuple[list[Appointment], list[Appointment]]:
    """(upcoming, past): upcoming are live ones not yet ended, soonest first; past the rest, latest first."""
    live = ("locked", "confirmed")
    upcoming = sorted((a for a in appointments if a.status in live and a.ends_at > now), key=lambda a: a.starts_at)
    past = sorted((a for a in appointments if a not in upcoming), key=lambda a: a.starts_at, reverse=True)
    return upcoming, past


def money(cents: int, currency: str) -> str:
    """12.50 EUR."""
    return f"{cents / 100:.2f} {currency}".strip()


def local(moment: datetime | None, zone: ZoneInfo, pattern: str = "%a %d %b %Y, %H:%M") -> str:
    """A moment in `zone`, as text ("" for none)."""
    return moment.astimezone(zone).strftime(pattern) if moment is not None else ""


def index_by(items: Iterable[T], key: Callable[[T], str]) -> dict[str, T]:
    return {key(item): item for item in items}
