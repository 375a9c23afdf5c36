"""Times in emails read in the provider's zone, named, right on both sides of DST changes."""

from datetime import UTC, datetime

import pytest

from notifier.domain.local_time import LocalClock


@pytest.mark.parametrize(("zone", "instant", "expected"), [
    ("Europe/Berlin", datetime(2026, 12, 1, 8, 30, tzinfo=UTC), "Tuesday 1 December 2026, 09:30 CET (Europe/Berlin)"),
    ("Europe/Berlin", datetime(2026, 7, 14, 7, 30, tzinfo=UTC), "Tuesday 14 July 2026, 09:30 CEST (Europe/Berlin)"),
    # EU spring forward, 29 March 2026 at 01:00 UTC: 02:00 local does not exist.
    ("Europe/Berlin", datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Sunday 29 March 2026, 01:30 CET (Europe/Berlin)"),
    ("Europe/Berlin", datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Sunday 29 March 2026, 03:30 CEST (Europe/Berlin)"),
    # US fall back, 1 November 2026 at 06:00 UTC: 01:30 happens twice, told apart by the abbreviation.
    ("America/New_York", datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
     "Sunday 1 November 2026, 01:30 EDT (America/New_York)"),
    ("America/New_York", datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
     "Sunday 1 November 2026, 01:30 EST (America/New_York)"),
    ("Asia/Kolkata", datetime(2026, 12, 1, 8, 30, tzinfo=UTC), "Tuesday 1 December 2026, 14:00 IST (Asia/Kolkata)"),
    ("UTC", datetime(2026, 12, 1, 8, 30, tzinfo=UTC), "Tuesday 1 December 2026, 08:30 UTC"),
])
def test_long_form_names_the_zone(zone, instant, expected):
    assert LocalClock.of(zone).long(instant) == expected


@pytest.mark.parametrize("zone", [None, "", "Mars/Olympus_Mons", "../etc/passwd"])
def test_missing_or_unknown_zone_reads_in_utc(zone):
    clock = LocalClock.of(zone)

    assert clock.name == "UTC"
    assert clock.long(datetime(2026, 12, 1, 8, 30, tzinfo=UTC)) == "Tuesday 1 December 2026, 08:30 UTC"


def test_short_form_and_time_for_subjects():
    clock = LocalClock.of("Europe/Berlin")
    instant = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)

    assert clock.short(instant) == "Tue 1 Dec 2026, 09:30 CET"
    assert clock.time(instant) == "09:30 CET"
