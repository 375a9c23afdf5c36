"""Weekly working hours expanded into slot intervals in the provider's own time zone.

Local wall-clock rules are turned into instants by walking elapsed time from the local start instant to the local
end instant: on a spring-forward day the missing hour yields no slots, on a fall-back day the repeated hour yields
its extra slots, and no slot is ever placed at a wall-clock time that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import combinations
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class WorkingHoursRule:
    """Every `weekday` (0 = Monday) from `start` to `end` local time, offering `service_id`."""

    weekday: int
    start: time
    end: time
    service_id: uuid.UUID


@dataclass(frozen=True)
class ProviderSchedule:
    """A provider as its schedule sees it: the zone its working hours are in, and the first local day whose slots
    have not been generated yet (None: never generated)."""

    id: uuid.UUID
    timezone: str
    user_id: uuid.UUID
    slots_generated_until: date | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def horizon(self, now: datetime, horizon_days: int) -> tuple[date, date]:
        """Today and the first day past the booking horizon, as local days of the provider."""
        today = now.astimezone(self.zone).date()
        return today, today + timedelta(days=horizon_days)

    def days_to_extend(self, now: datetime, horizon_days: int) -> tuple[date, date] | None:
        """The local days [first, until) not generated yet up to the horizon; None when up to date."""
        today, until = self.horizon(now, horizon_days)
        first = max(self.slots_generated_until or today, today)
        return (first, until) if first < until else None


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


class WeeklyRule(Protocol):
    """Anything shaped like a working-hours rule (the domain's own, or a request body's)."""

    @property
    def weekday(self) -> int: ...
    @property
    def start(self) -> time: ...
    @property
    def end(self) -> time: ...


RuleT = TypeVar("RuleT", bound=WeeklyRule)


def first_overlap(rules: Sequence[RuleT]) -> tuple[RuleT, RuleT] | None:
    """Two rules of one weekday whose hours overlap (touching ends do not), or None."""
    for a, b in combinations(rules, 2):
        if a.weekday == b.weekday and a.start < b.end and b.start < a.end:
            return a, b
    return None


@dataclass(frozen=True)
class TimeOff:
    """A provider's absence from `starts_at` (inclusive) to `ends_at` (exclusive)."""

    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            raise ValueError("time off must end after it starts")

    def overlaps(self, starts_at: datetime, ends_at: datetime) -> bool:
        """Whether [starts_at, ends_at) shares any instant with this absence."""
        return self.starts_at < ends_at and starts_at < self.ends_at


def outside_time_off(intervals: Iterable[SlotInterval], absences: Sequence[TimeOff]) -> list[SlotInterval]:
    """The intervals that overlap none of the absences (a slot partly inside time off is not offered)."""
    return [
        interval
        for interval in intervals
        if not any(absence.overlaps(interval.starts_at, interval.ends_at) for absence in absences)
    ]
