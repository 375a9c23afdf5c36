"""Pure schedule rules: time off keeps slots out, weekly rules of one weekday must not overlap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.schedule import SlotInterval, TimeOff, WorkingHoursRule, expand, first_overlap, outside_time_off

SERVICE = uuid.uuid4()
T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def slot(start: int, end: int) -> SlotInterval:
    return SlotInterval(SERVICE, at(start), at(end))


def rule(weekday: int, start: str, end: str) -> WorkingHoursRule:
    return WorkingHoursRule(weekday, time.fromisoformat(start), time.fromisoformat(end), SERVICE)


# --- time off -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "overlaps"),
    [
        (0, 30, True),     # the same span
        (-30, 1, True),    # ends one minute into it
        (59, 90, True),    # starts one minute before it ends
        (10, 20, True),    # inside it
        (-60, 120, True),  # around it
        (-30, 0, False),   # ends exactly when it starts
        (60, 90, False),   # starts exactly when it ends
    ],
)
def test_time_off_overlaps_half_open_ranges(start: int, end: int, overlaps: bool) -> None:
    assert TimeOff(at(0), at(60)).overlaps(at(start), at(end)) is overlaps


@pytest.mark.parametrize("length", [0, -1])
def test_time_off_must_end_after_it_starts(length: int) -> None:
    with pytest.raises(ValueError, match="end after"):
        TimeOff(at(0), at(length))


def test_slots_touching_or_inside_time_off_are_dropped_and_the_rest_kept_in_order() -> None:
    slots = [slot(n, n + 30) for n in range(0, 300, 30)]
    kept = outside_time_off(slots, [TimeOff(at(60), at(100)), TimeOff(at(240), at(241))])
    assert kept == [slot(0, 30), slot(30, 60), slot(120, 150), slot(150, 180), slot(180, 210), slot(210, 240),
                    slot(270, 300)]


def test_without_time_off_every_slot_is_kept() -> None:
    slots = [slot(0, 30), slot(30, 60)]
    assert outside_time_off(slots, []) == slots


def test_a_week_of_vacation_removes_exactly_that_weeks_slots() -> None:
    zone = ZoneInfo("Europe/Berlin")
    rules = [rule(day, "09:00", "12:00") for day in range(7)]
    first = datetime(2026, 3, 23).date()  # the week of Berlin's spring change
    slots = expand(rules, first, 21, zone, {SERVICE: timedelta(minutes=30)})
    vacation = TimeOff(datetime(2026, 3, 30, tzinfo=zone), datetime(2026, 4, 6, tzinfo=zone))
    kept = outside_time_off(slots, [vacation])
    assert len(slots) - len(kept) == 7 * 6
    assert not [s for s in kept if vacation.overlaps(s.starts_at, s.ends_at)]


@given(
    st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 120)), max_size=30),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 600)), max_size=5),
)
def test_a_kept_slot_never_shares_an_instant_with_time_off_and_a_dropped_one_always_does(
    spans: list[tuple[int, int]], absences: list[tuple[int, int]]
) -> None:
    slots = [slot(start, start + length) for start, length in spans]
    time_off = [TimeOff(at(start), at(start + length)) for start, length in absences]
    kept = outside_time_off(slots, time_off)
    for interval in slots:
        clashes = any(a.starts_at < interval.ends_at and interval.starts_at < a.ends_at for a in time_off)
        assert (interval in kept) is not clashes


# --- weekly rules ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rules",
    [
        [rule(1, "09:00", "12:00"), rule(1, "11:59", "13:00")],
        [rule(1, "09:00", "12:00"), rule(1, "09:00", "10:00")],  # same start
        [rule(1, "09:00", "12:00"), rule(1, "10:00", "11:00")],  # inside
        [rule(2, "08:00", "09:00"), rule(1, "09:00", "12:00"), rule(1, "07:00", "18:00")],  # around
    ],
)
def test_overlapping_rules_on_one_weekday_are_found(rules: list[WorkingHoursRule]) -> None:
    found = first_overlap(rules)
    assert found is not None
    a, b = found
    assert a.weekday == b.weekday == 1


@pytest.mark.parametrize(
    "rules",
    [
        [],
        [rule(1, "09:00", "12:00")],
        [rule(1, "09:00", "12:00"), rule(1, "12:00", "13:00")],  # back to back
        [rule(1, "09:00", "12:00"), rule(2, "09:00", "12:00")],  # other weekday
        [rule(0, "00:00", "23:59"), rule(6, "00:00", "23:59")],
    ],
)
def test_rules_that_only_touch_or_fall_on_other_days_do_not_overlap(rules: list[WorkingHoursRule]) -> None:
    assert first_overlap(rules) is None


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 22), st.integers(1, 4)), max_size=12))
def test_rules_without_an_overlap_expand_to_slots_that_never_overlap(specs: list[tuple[int, int, int]]) -> None:
    rules = [rule(day, f"{hour:02d}:00", f"{min(hour + length, 23):02d}:30") for day, hour, length in specs]
    if first_overlap(rules) is not None:
        return
    slots = expand(rules, datetime(2026, 10, 19).date(), 14, ZoneInfo("America/New_York"),
                   {SERVICE: timedelta(minutes=30)})
    for earlier, later in pairwise(slots):
        assert earlier.ends_at <= later.starts_at
