"""Working hours expanded in the provider's IANA zone, on real transition dates and on random zones and rules.

Spring forward: the missing hour yields no slots, a rule starting inside the gap starts at the gap's end.
Fall back: the repeated hour yields its extra (elapsed-time) slots. No slot starts at a wall-clock time that does not
exist; slots are ordered, back to back and never overlap.
"""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking.domain.schedule import SlotInterval, WorkingHoursRule, expand, expand_day

SERVICE = uuid.UUID("00000000-0000-4000-8000-000000000001")
HALF_HOUR = timedelta(minutes=30)
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")

# Real 2026 transition days (both are Sundays).
BERLIN_SPRING, BERLIN_FALL = date(2026, 3, 29), date(2026, 10, 25)
NEW_YORK_SPRING, NEW_YORK_FALL = date(2026, 3, 8), date(2026, 11, 1)
TRANSITION_DAYS = [
    pytest.param(BERLIN, BERLIN_SPRING, id="berlin-spring"),
    pytest.param(BERLIN, BERLIN_FALL, id="berlin-fall"),
    pytest.param(NEW_YORK, NEW_YORK_SPRING, id="new-york-spring"),
    pytest.param(NEW_YORK, NEW_YORK_FALL, id="new-york-fall"),
]


def rule(day: date, start: time, end: time) -> WorkingHoursRule:
    return WorkingHoursRule(day.weekday(), start, end, SERVICE)


def wall(slots: list[SlotInterval], zone: ZoneInfo) -> list[str]:
    """Local wall-clock start times with their UTC offset, e.g. '09:00+0200'."""
    return [slot.starts_at.astimezone(zone).strftime("%H:%M%z") for slot in slots]


def exists_locally(naive: datetime, zone: ZoneInfo) -> bool:
    """True unless `naive` falls into a spring-forward gap of `zone`."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def assert_well_formed(slots: list[SlotInterval], zone: ZoneInfo, duration: timedelta) -> None:
    for slot in slots:
        assert slot.starts_at.tzinfo is not None
        assert slot.ends_at - slot.starts_at == duration
        local = slot.starts_at.astimezone(zone).replace(tzinfo=None)
        assert exists_locally(local, zone), f"slot at non-existent local time {local} in {zone.key}"
    for earlier, later in pairwise(slots):
        assert earlier.starts_at < later.starts_at
        assert earlier.ends_at <= later.starts_at, "overlapping slots"


# --- the real transition dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "day"), TRANSITION_DAYS)
def test_office_hours_keep_their_local_wall_clock_across_the_change(zone: ZoneInfo, day: date) -> None:
    expected_wall = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    for offset in (-7, -1, 0, 1, 7):  # the weeks and days around the change, and the day itself
        current = day + timedelta(days=offset)
        slots = expand_day(rule(current, time(9), time(12)), current, zone, HALF_HOUR)
        local = [slot.starts_at.astimezone(zone) for slot in slots]
        assert [moment.strftime("%H:%M") for moment in local] == expected_wall
        assert {moment.date() for moment in local} == {current}
        assert_well_formed(slots, zone, HALF_HOUR)


def test_berlin_office_hours_move_by_one_hour_in_utc_across_each_change() -> None:
    def first_utc_hour(day: date) -> int:
        return expand_day(rule(day, time(9), time(12)), day, BERLIN, HALF_HOUR)[0].starts_at.hour

    assert (first_utc_hour(BERLIN_SPRING - timedelta(days=7)), first_utc_hour(BERLIN_SPRING)) == (8, 7)
    assert (first_utc_hour(BERLIN_FALL - timedelta(days=7)), first_utc_hour(BERLIN_FALL)) == (7, 8)


def test_berlin_spring_gap_yields_two_hours_of_slots_and_none_in_the_gap() -> None:
    slots = expand_day(rule(BERLIN_SPRING, time(1), time(4)), BERLIN_SPRING, BERLIN, HALF_HOUR)
    assert wall(slots, BERLIN) == ["01:00+0100", "01:30+0100", "03:00+0200", "03:30+0200"]
    assert slots[-1].ends_at - slots[0].starts_at == timedelta(hours=2)
    assert_well_formed(slots, BERLIN, HALF_HOUR)


def test_berlin_fall_repeat_yields_four_hours_of_slots() -> None:
    slots = expand_day(rule(BERLIN_FALL, time(1), time(4)), BERLIN_FALL, BERLIN, HALF_HOUR)
    assert wall(slots, BERLIN) == [
        "01:00+0200", "01:30+0200", "02:00+0200", "02:30+0200",  # first pass through 02:00-03:00 (CEST)
        "02:00+0100", "02:30+0100", "03:00+0100", "03:30+0100",  # the repeat (CET)
    ]
    assert slots[-1].ends_at - slots[0].starts_at == timedelta(hours=4)
    assert_well_formed(slots, BERLIN, HALF_HOUR)


def test_new_york_spring_gap_yields_two_hours_of_slots() -> None:
    slots = expand_day(rule(NEW_YORK_SPRING, time(1), time(4)), NEW_YORK_SPRING, NEW_YORK, HALF_HOUR)
    assert wall(slots, NEW_YORK) == ["01:00-0500", "01:30-0500", "03:00-0400", "03:30-0400"]
    assert slots[-1].ends_at - slots[0].starts_at == timedelta(hours=2)
    assert_well_formed(slots, NEW_YORK, HALF_HOUR)


def test_new_york_fall_repeat_yields_four_hours_of_slots() -> None:
    slots = expand_day(rule(NEW_YORK_FALL, time(1), time(4)), NEW_YORK_FALL, NEW_YORK, HALF_HOUR)
    assert wall(slots, NEW_YORK) == [
        "01:00-0400", "01:30-0400",  # 01:00-02:00 EDT
        "01:00-0500", "01:30-0500",  # the repeated hour, EST
        "02:00-0500", "02:30-0500", "03:00-0500", "03:30-0500",
    ]
    assert slots[-1].ends_at - slots[0].starts_at == timedelta(hours=4)
    assert_well_formed(slots, NEW_YORK, HALF_HOUR)


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        pytest.param(BERLIN, BERLIN_SPRING, ["03:00+0200", "03:30+0200"], id="berlin"),
        pytest.param(NEW_YORK, NEW_YORK_SPRING, ["03:00-0400", "03:30-0400"], id="new-york"),
    ],
)
def test_a_rule_starting_inside_the_gap_starts_at_the_gaps_end(zone: ZoneInfo, day: date, expected: list[str]) -> None:
    slots = expand_day(rule(day, time(2, 30), time(4)), day, zone, HALF_HOUR)
    assert wall(slots, zone) == expected


def test_a_rule_entirely_inside_the_gap_yields_nothing() -> None:
    assert expand_day(rule(BERLIN_SPRING, time(2), time(2, 45)), BERLIN_SPRING, BERLIN, timedelta(minutes=15)) == []


def test_a_rule_starting_in_the_repeated_hour_starts_at_its_first_occurrence() -> None:
    slots = expand_day(rule(BERLIN_FALL, time(2, 30), time(4)), BERLIN_FALL, BERLIN, HALF_HOUR)
    assert wall(slots, BERLIN) == ["02:30+0200", "02:00+0100", "02:30+0100", "03:00+0100", "03:30+0100"]


def test_slots_that_do_not_fit_before_the_end_are_not_made() -> None:
    slots = expand_day(rule(BERLIN_SPRING, time(9), time(10, 40)), BERLIN_SPRING, BERLIN, timedelta(minutes=45))
    assert wall(slots, BERLIN) == ["09:00+0200", "09:45+0200"]


def test_a_rule_only_applies_on_its_weekday() -> None:
    sunday_rule = rule(BERLIN_SPRING, time(9), time(12))
    assert expand_day(sunday_rule, BERLIN_SPRING + timedelta(days=1), BERLIN, HALF_HOUR) == []


def test_expand_over_the_change_week_is_ordered_and_uses_each_days_offset() -> None:
    other_service = uuid.uuid4()
    rules = [WorkingHoursRule(weekday, time(9), time(11), SERVICE) for weekday in range(7)]
    rules.append(WorkingHoursRule(6, time(13), time(14), other_service))  # Sundays only, a second service
    durations = {SERVICE: HALF_HOUR, other_service: timedelta(hours=1)}
    slots = expand(rules, date(2026, 3, 27), 4, BERLIN, durations)  # Friday to Monday over the spring change
    assert_well_formed([s for s in slots if s.service_id == SERVICE], BERLIN, HALF_HOUR)
    assert [s.starts_at for s in slots] == sorted(s.starts_at for s in slots)
    by_day: dict[date, list[str]] = {}
    for slot in slots:
        by_day.setdefault(slot.starts_at.astimezone(BERLIN).date(), []).append(wall([slot], BERLIN)[0])
    assert by_day == {
        date(2026, 3, 27): ["09:00+0100", "09:30+0100", "10:00+0100", "10:30+0100"],
        date(2026, 3, 28): ["09:00+0100", "09:30+0100", "10:00+0100", "10:30+0100"],
        date(2026, 3, 29): ["09:00+0200", "09:30+0200", "10:00+0200", "10:30+0200", "13:00+0200"],
        date(2026, 3, 30): ["09:00+0200", "09:30+0200", "10:00+0200", "10:30+0200"],
    }
    assert [s.service_id for s in slots].count(other_service) == 1


# --- properties over random zones, dates and rules ---------------------------------------------------------------

ZONES = sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith("Etc/"))


@functools.lru_cache(maxsize=4096)
def transitions(zone_name: str, year: int) -> tuple[tuple[date, int], ...]:
    """`zone`'s offset changes in `year`: the local day and minute of day at which each happens (old offset)."""
    zone = ZoneInfo(zone_name)
    noons = [datetime.combine(date(year, 1, 1) + timedelta(days=n), time(12), tzinfo=zone) for n in range(367)]
    found = []
    for before, after in pairwise(noons):
        if before.utcoffset() == after.utcoffset():
            continue
        low, high = before.astimezone(UTC), after.astimezone(UTC)
        while high - low > timedelta(minutes=1):  # bisect to the minute of the change
            middle = low + (high - low) / 2
            middle = middle.replace(second=0, microsecond=0)
            if middle.astimezone(zone).utcoffset() == before.utcoffset():
                low = middle
            else:
                high = middle
        local = (high + before.utcoffset()).replace(tzinfo=None)  # the wall clock the change interrupts
        found.append((local.date(), local.hour * 60 + local.minute))
    return tuple(found)


def first_instant_reading(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Oracle: the earliest UTC minute at which the local wall clock reads `at` on `day`, or later.

    Independent of the code under test: it walks UTC minute by minute from 14 h before (no zone is ahead of UTC by
    more), so a gap yields its end and a repeat its first occurrence.
    """
    naive = datetime.combine(day, at)
    instant = naive.replace(tzinfo=UTC) - timedelta(hours=14, minutes=1)
    while instant.astimezone(zone).replace(tzinfo=None) < naive:
        instant += timedelta(minutes=1)
    return instant


@st.composite
def zone_day_and_rule(draw: st.DrawFn) -> tuple[ZoneInfo, date, WorkingHoursRule]:
    """A zone and a day, on a transition day half the time, and a rule that often straddles the change."""
    zone_name = draw(st.sampled_from(ZONES))
    year = draw(st.integers(2000, 2037))
    changes = transitions(zone_name, year)
    if changes and draw(st.booleans()):
        day, minute = draw(st.sampled_from(changes))
        start = draw(st.integers(max(0, minute - 150), min(23 * 60 + 58, minute + 90)))
        end = draw(st.integers(start + 1, min(23 * 60 + 59, start + 300)))
    else:
        day = draw(st.dates(date(year, 1, 1), date(year, 12, 31)))
        start = draw(st.integers(0, 23 * 60 + 58))
        end = draw(st.integers(start + 1, 23 * 60 + 59))
    working = WorkingHoursRule(day.weekday(), time(*divmod(start, 60)), time(*divmod(end, 60)), SERVICE)
    return ZoneInfo(zone_name), day, working


DURATIONS = st.sampled_from([5, 15, 20, 30, 45, 60, 90, 120]).map(lambda minutes: timedelta(minutes=minutes))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), duration=DURATIONS)
def test_any_zone_day_and_rule_gives_well_formed_slots_in_the_right_window(
    data: st.DataObject, duration: timedelta
) -> None:
    zone, day, working = data.draw(zone_day_and_rule())
    slots = expand_day(working, day, zone, duration)
    assert_well_formed(slots, zone, duration)

    begin = first_instant_reading(day, working.start, zone)
    end = first_instant_reading(day, working.end, zone)
    expected_count = max(0, (end - begin) // duration)
    assert len(slots) == expected_count
    if slots:
        assert slots[0].starts_at == begin
        assert slots[-1].ends_at <= end
        assert all(a.ends_at == b.starts_at for a, b in pairwise(slots)), "slots are back to back"
        first_local = slots[0].starts_at.astimezone(zone)
        assert first_local.date() == day
        assert first_local.time() >= working.start


@settings(max_examples=50, deadline=None)
@given(data=st.data(), duration=DURATIONS, days=st.integers(1, 10))
def test_expand_over_several_days_is_ordered_and_never_overlaps(
    data: st.DataObject, duration: timedelta, days: int
) -> None:
    zone, day, working = data.draw(zone_day_and_rule())
    first_day = day - timedelta(days=data.draw(st.integers(0, days - 1)))
    # One rule per weekday at most, so rules never overlap each other.
    others = data.draw(st.sets(st.integers(0, 6).filter(lambda weekday: weekday != day.weekday()), max_size=3))
    rules = [working, *(WorkingHoursRule(weekday, working.start, working.end, SERVICE) for weekday in others)]
    slots = expand(rules, first_day, days, zone, {SERVICE: duration})
    assert_well_formed(slots, zone, duration)
    expected = sum(
        len(expand_day(r, first_day + timedelta(days=n), zone, duration)) for n in range(days) for r in rules
    )
    assert len(slots) == expected
