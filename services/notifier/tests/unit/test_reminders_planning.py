from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.reminders import describe_offset, reminder_times

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DAY, HOUR = 86400, 3600


def test_one_reminder_per_offset_earliest_first():
    starts = NOW + timedelta(days=3)

    planned = reminder_times(starts, (HOUR, DAY))

    assert [(item.offset_seconds, item.due_at) for item in planned] == [
        (DAY, starts - timedelta(days=1)), (HOUR, starts - timedelta(hours=1)),
    ]


def test_repeated_offsets_plan_one_reminder():
    assert len(reminder_times(NOW + timedelta(days=2), (HOUR, HOUR))) == 1


# Whether a reminder is still ahead is decided by the database clock when it is stored: see the integration test
# test_reminders.py::test_none_in_the_past.


@pytest.mark.parametrize(("offset", "words"), [
    (3600, "1 hour"), (86400, "24 hours"), (5400, "90 minutes"), (60, "1 minute"), (30, "1 minute"),
])
def test_offsets_in_words(offset, words):
    assert describe_offset(offset) == words
