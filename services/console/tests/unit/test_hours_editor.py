"""The working-hours editor: the week as saved becomes one row per period (so a save keeps every period), the form
as sent becomes the same rows again, and ticked rows become the rules the API is sent."""

from __future__ import annotations

import pytest

from console.adapters.shapes import WorkingHoursRule
from console.domain.forms import FormErrors
from console.domain.hours import read_working_hours, rows_from_form, rows_from_rules


def rule(weekday: int, start: str, end: str, service_id: str = "s") -> WorkingHoursRule:
    return WorkingHoursRule(weekday=weekday, start=start, end=end, service_id=service_id)


def form_of(rows) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The fields a browser sends for these rows, untouched (unticked boxes send nothing)."""
    fields = {}
    for row in rows:
        fields |= {f"start_{row.key}": row.start, f"end_{row.key}": row.end, f"service_{row.key}": row.service_id}
        if row.works:
            fields[f"works_{row.key}"] = "1"
    return fields


SAVED = [rule(0, "13:00", "17:45", "b"), rule(0, "08:30", "12:00"), rule(5, "22:00", "23:30:15")]


def test_every_saved_period_is_a_ticked_row_and_a_day_without_one_an_empty_row() -> None:
    rows = rows_from_rules(SAVED)
    assert [(row.label, row.works, row.start, row.end, row.service_id) for row in rows[:3]] == [
        ("Monday", True, "08:30", "12:00", "s"), ("Monday (period 2)", True, "13:00", "17:45", "b"),
        ("Tuesday", False, "09:00", "17:00", "")]
    assert [row.label for row in rows] == ["Monday", "Monday (period 2)", "Tuesday", "Wednesday", "Thursday",
                                           "Friday", "Saturday", "Sunday"]
    assert len({row.key for row in rows}) == len(rows)


def test_the_week_as_saved_is_sent_back_unchanged_when_nothing_is_edited() -> None:
    assert read_working_hours(form_of(rows_from_rules(SAVED))) == [
        {"weekday": 0, "start": "08:30", "end": "12:00", "service_id": "s"},
        {"weekday": 0, "start": "13:00", "end": "17:45", "service_id": "b"},
        {"weekday": 5, "start": "22:00", "end": "23:30:15", "service_id": "s"}]


def test_an_empty_week_reads_seven_unticked_rows_and_saves_nothing() -> None:
    rows = rows_from_rules([])
    assert [(row.key, row.works) for row in rows] == [(str(day), False) for day in range(7)]
    assert read_working_hours(form_of(rows)) == []


def test_a_refused_form_comes_back_as_it_was_sent() -> None:
    sent = form_of(rows_from_rules(SAVED)) | {"end_0_1": "12:30"}
    del sent["works_0_1"]  # the second Monday period unticked: kept on the page, not saved
    rows = rows_from_form(sent)
    assert [(row.key, row.works, row.end) for row in rows[:3]] == [("0", True, "12:00"), ("0_1", False, "12:30"),
                                                                   ("1", False, "17:00")]
    assert [rule["weekday"] for rule in read_working_hours(sent)] == [0, 5]


def test_a_further_period_that_ends_before_it_starts_is_named_in_its_message() -> None:
    sent = form_of(rows_from_rules(SAVED)) | {"end_0_1": "07:00"}
    with pytest.raises(FormErrors) as refused:
        read_working_hours(sent)
    assert refused.value.messages == {"end_0_1": "Monday (period 2)'s end must be after its start."}
