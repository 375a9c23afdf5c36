"""Whole answers kept in process memory: how long one is the answer by itself, and how memory stays bounded."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from availability.domain.search import entry, next_change
from availability.service_layer.answers import Answer, Answers

BASE = datetime(2026, 12, 1, 9, tzinfo=UTC)
CLINIC = uuid.uuid4()


def slot(hours: float, reserved_for: float | None = None, clinic: uuid.UUID = CLINIC) -> dict:
    starts = BASE + timedelta(hours=hours)
    return entry({"slot_id": uuid.uuid4(), "provider_id": uuid.uuid4(), "service_id": uuid.uuid4(),
                  "clinic_id": clinic, "starts_at": starts, "ends_at": starts + timedelta(minutes=30), "capacity": 1,
                  "remaining": 1,
                  "reserved_until": BASE + timedelta(hours=reserved_for) if reserved_for is not None else None})


def at(hours: float) -> float:
    return (BASE + timedelta(hours=hours)).timestamp()


def test_an_answer_changes_when_its_first_listed_slot_starts() -> None:
    pages = [[slot(1), slot(2)], [slot(30)]]
    assert next_change(pages, at(0), at(48), at(0.5)) == at(1)
    assert next_change(pages, at(0), at(48), at(1.5)) == at(2)


def test_a_reservation_ending_before_its_slot_starts_changes_the_answer_then() -> None:
    pages = [[slot(1, reserved_for=0.75), slot(2)]]
    assert next_change(pages, at(0), at(48), at(0.5)) == at(0.75)


def test_slots_outside_the_range_or_of_another_clinic_or_started_change_nothing() -> None:
    other = uuid.uuid4()
    pages = [[slot(-1), slot(0.25, clinic=other), slot(5)]]
    assert next_change(pages, at(0), at(4), at(0), str(CLINIC)) == float("inf")


def answer(size: int, until: float = float("inf")) -> Answer:
    return Answer(b"x" * size, "service", "all", [date(2026, 12, 1)], [7], until)


def test_an_answer_is_not_served_once_its_time_is_up() -> None:
    answers = Answers(1000)
    answers.keep("q", answer(10, until=100.0))
    assert answers.get("q", 99.9) is not None
    assert answers.get("q", 100.0) is None
    assert len(answers) == 0


def test_memory_stays_within_its_bytes_the_least_recently_used_going_first() -> None:
    answers = Answers(250)
    for query in ("a", "b"):
        answers.keep(query, answer(100))
    assert answers.get("a", 0) is not None  # "a" used again: "b" is now the oldest
    answers.keep("c", answer(100))
    assert [query for query in "abc" if answers.get(query, 0) is not None] == ["a", "c"]


def test_an_answer_larger_than_the_memory_or_no_memory_at_all_is_not_kept() -> None:
    answers = Answers(50)
    answers.keep("big", answer(51))
    assert answers.get("big", 0) is None
    none = Answers(0)
    none.keep("q", answer(1))
    assert len(none) == 0
