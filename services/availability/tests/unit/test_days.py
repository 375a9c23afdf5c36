"""UTC days of a search range and local days of a provider, on real DST transition dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from availability.domain.days import local_day, utc_day_of, utc_days


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_range_covers_the_utc_days_its_instants_fall_on():
    assert utc_days(at("2026-03-01T22:00:00+00:00"), at("2026-03-03T00:00:00+00:00")) == [
        date(2026, 3, 1), date(2026, 3, 2)]
    assert utc_days(at("2026-03-01T00:30:00+02:00"), at("2026-03-01T01:00:00+02:00")) == [date(2026, 2, 28)]


def test_an_empty_or_backwards_range_covers_no_day():
    instant = at("2026-03-01T10:00:00+00:00")
    assert utc_days(instant, instant) == []
    assert utc_days(instant, at("2026-03-01T09:00:00+00:00")) == []


def test_a_naive_instant_is_read_as_utc():
    assert utc_day_of(datetime(2026, 3, 1, 23, 30)) == date(2026, 3, 1)
    assert utc_day_of(at("2026-03-02T00:30:00+01:00")) == date(2026, 3, 1)


@pytest.mark.parametrize(("zone", "day", "starts", "ends", "hours"), [
    ("Europe/Berlin", date(2026, 3, 29), "2026-03-28T23:00:00+00:00", "2026-03-29T22:00:00+00:00", 23),
    ("Europe/Berlin", date(2026, 10, 25), "2026-10-24T22:00:00+00:00", "2026-10-25T23:00:00+00:00", 25),
    ("America/New_York", date(2026, 3, 8), "2026-03-08T05:00:00+00:00", "2026-03-09T04:00:00+00:00", 23),
    ("America/New_York", date(2026, 11, 1), "2026-11-01T04:00:00+00:00", "2026-11-02T05:00:00+00:00", 25),
    ("Europe/Berlin", date(2026, 6, 1), "2026-05-31T22:00:00+00:00", "2026-06-01T22:00:00+00:00", 24),
])
def test_a_local_day_runs_from_midnight_to_midnight_in_its_zone(zone, day, starts, ends, hours):
    local = local_day(day, ZoneInfo(zone))
    assert (local.starts_at, local.ends_at, local.hours) == (at(starts), at(ends), hours)


def test_a_day_whose_midnight_is_skipped_starts_at_the_transition():
    # Cuba moves its clocks from 00:00 to 01:00: 2026-03-08 has no midnight.
    local = local_day(date(2026, 3, 8), ZoneInfo("America/Havana"))
    assert local.starts_at == at("2026-03-08T05:00:00+00:00")
    assert local.local(local.starts_at).isoformat() == "2026-03-08T01:00:00-04:00"
    assert local.hours == 23


def test_a_day_whose_evening_repeats_lasts_25_hours():
    # Chile turns 2026-04-05 00:00 back to 2026-04-04 23:00: the 4th has its last hour twice.
    local = local_day(date(2026, 4, 4), ZoneInfo("America/Santiago"))
    assert local.hours == 25
    assert local.ends_at.astimezone(local.zone).isoformat() == "2026-04-05T00:00:00-04:00"


def test_local_times_carry_the_offset_in_force():
    local = local_day(date(2026, 10, 25), ZoneInfo("Europe/Berlin"))
    first, second = at("2026-10-25T00:30:00+00:00"), at("2026-10-25T01:30:00+00:00")
    assert local.local(first).isoformat() == "2026-10-25T02:30:00+02:00"
    assert local.local(second).isoformat() == "2026-10-25T02:30:00+01:00"
    assert local.local(datetime(2026, 10, 25, 12, tzinfo=UTC)).utcoffset().total_seconds() == 3600
