"""Weekly working hours expanded into slot intervals in the provider's own time zone.

Local wall-clock rules are turned into instants by walking elapsed time from the local start instant to the local
end instant: on a spring-forward day the missing hour yields no slots, on a fall-back day the repeated hour yields
its extra slots, and no slot is ever placed at a wall-clock time that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class WorkingHoursRule:
    """Every `weekday` (0 = Monday) from `start` to `end` local time, offering `service_id`."""

    weekday: int
    start: time
    end: time
    service_id: uuid.UUID


@dataclass(frozen=True)
class SlotInterval:
    """A slot to create: when, and for which service."""

    service_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first instant at which the local wall clock reads `at` or later on `day`.

    Outside transitions that is the ordinary conversion; for a repeated hour it is the first occurrence; for a
    time inside a spring-forward gap it is the end of the gap.
    """
    naive = datetime.combine(day, at)
    instant = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    step = timedelta(minutes=1)
    while (instant - step).astimezone(zone).replace(tzinfo=None) >= naive:  # only ever true inside a gap
        instant -= step
    return instant


def expand_day(rule: WorkingHoursRule, day: date, zone: ZoneInfo, duration: timedelta) -> list[SlotInterval]:
    """The slots one rule yields on one local day."""
    if day.weekday() != rule.weekday:
        return []
    begin = _local_instant(day, rule.start, zone)
    end = _local_instant(day, rule.end, zone)
    slots, cursor = [], begin
    while cursor + duration <= end:
        slots.append(SlotInterval(rule.service_id, cursor, cursor + duration))
        cursor += duration
    return slots


def expand(
    rules: list[WorkingHoursRule], first_day: date, days: int, zone: ZoneInfo, durations: dict[uuid.UUID, timedelta]
) -> list[SlotInterval]:
    """Every slot the rules yield over `days` local days from `first_day`, in time order."""
    slots = [
        interval
        for offset in range(days)
        for rule in rules
        for interval in expand_day(rule, first_day + timedelta(days=offset), zone, durations[rule.service_id])
    ]
    return sorted(slots, key=lambda interval: interval.starts_at)
