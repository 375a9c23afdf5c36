"""Instants as the people at the appointment read them: in the provider's time zone, with the zone named."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# English names on purpose: strftime's %A and %B follow the process locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
FALLBACK_ZONE = "UTC"


@dataclass(frozen=True)
class LocalClock:
    """One IANA zone (UTC when the event named none, or one this machine does not know)."""

    name: str

    @classmethod
    def of(cls, zone: str | None) -> LocalClock:
        if not zone:
            return cls(FALLBACK_ZONE)
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            return cls(FALLBACK_ZONE)
        return cls(zone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.name)

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone)

    def long(self, instant: datetime) -> str:
        """"Tuesday 1 December 2026, 09:30 CET (Europe/Berlin)"."""
        local = self.local(instant)
        return f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year}, {self._clock(local)}"

    def short(self, instant: datetime) -> str:
        """"Tue 1 Dec 2026, 09:30 CET": for subject lines."""
        local = self.local(instant)
        return (f"{WEEKDAYS[local.weekday()][:3]} {local.day} {MONTHS[local.month - 1][:3]} {local.year}, "
                f"{local:%H:%M} {local.tzname()}")

    def time(self, instant: datetime) -> str:
        """"10:00 CET"."""
        local = self.local(instant)
        return f"{local:%H:%M} {local.tzname()}"

    def _clock(self, local: datetime) -> str:
        abbreviation = local.tzname() or ""
        if self.name == FALLBACK_ZONE or abbreviation == self.name:
            return f"{local:%H:%M} {self.name}"
        return f"{local:%H:%M} {abbreviation} ({self.name})"


def utc(instant: datetime) -> datetime:
    """The same instant in UTC."""
    return instant.astimezone(UTC)
