"""Days as availability sees them: the UTC days a search range covers, and a provider's local day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ONE_DAY = timedelta(days=1)


def utc_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days that instants of [start, end) fall on; none when the range is empty."""
    if end <= start:
        return []
    first = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    return [first + ONE_DAY * n for n in range((last - first).days + 1)]


def utc_midnight(day: date) -> datetime:
    """The instant a UTC day begins."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def utc_day_of(instant: datetime) -> date:
    """The UTC day an instant falls on (a naive instant is read as UTC)."""
    if instant.tzinfo is None:
        return instant.date()
    return instant.astimezone(UTC).date()


@dataclass(frozen=True)
class LocalDay:
    """One calendar day of a time zone, as the UTC instants [starts_at, ends_at)."""

    day: date
    zone: ZoneInfo
    starts_at: datetime
    ends_at: datetime

    @property
    def hours(self) -> float:
        """23 or 25 on the days the clocks change, 24 otherwise."""
        return (self.ends_at - self.starts_at).total_seconds() / 3600

    def local(self, instant: datetime) -> datetime:
        """An instant as the zone's wall clock shows it, with the offset in force then."""
        return instant.astimezone(self.zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant a local day begins.

    `fold=0` takes the first of a repeated midnight; a midnight the clocks skip is read with the offset before the
    gap, which lands exactly on the transition, the first instant that carries the new date.
    """
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def local_day(day: date, zone: ZoneInfo) -> LocalDay:
    """`day` in `zone` from local midnight to the next local midnight (23 or 25 hours on DST days)."""
    return LocalDay(day, zone, local_midnight(day, zone), local_midnight(day + ONE_DAY, zone))
