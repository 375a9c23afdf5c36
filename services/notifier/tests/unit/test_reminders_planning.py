from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.reminders import describe_offset, plan_reminders

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DAY, HOUR = 86400, 3600


def test_both_reminders_ahead_earliest_first():
    starts = NOW + timedelta(days=3)

    planned = plan_reminders(starts, (HOUR, DAY), NOW)

    assert [(item.offset_seconds, item.due_at) for item in planned] == [
        (DAY, starts - timedelta(days=1)), (HOUR, starts - timedelta(hours=1)),
    ]


@pytest.mark.parametrize(("starts_in", "offsets_left"), [
    (timedelta(hours=25), [DAY, HOUR]),
    (timedelta(hours=2), [HOUR]),
    (timedelta(hours=1), []),  # due exactly now: already too late
    (timedelta(minutes=30), []),
    (-timedelta(hours=1), []),
])
def test_no_reminder_is_planned_in_the_past(starts_in, offsets_left):
    planned = plan_reminders(NOW + starts_in, (DAY, HOUR), NOW)

    assert [item.offset_seconds for item in planned] == offsets_left
    assert all(item.due_at > NOW for item in planned)


def test_repeated_offsets_plan_one_reminder():
    assert len(plan_reminders(NOW + timedelta(days=2), (HOUR, HOUR), NOW)) == 1


@pytest.mark.parametrize(("offset", "words"), [
    (3600, "1 hour"), (86400, "24 hours"), (5400, "90 minutes"), (60, "1 minute"), (30, "1 minute"),
])
def test_offsets_in_words(offset, words):
    assert describe_offset(offset) == words
