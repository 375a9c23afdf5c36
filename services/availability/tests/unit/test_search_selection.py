"""Which cached entries a search answers with."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import orjson

from availability.domain.search import PUBLIC_FIELDS, Entries, entry, pages_by_day, select

CLINIC = uuid.uuid4()
BASE = datetime(2026, 12, 1, 9, tzinfo=UTC)


def row(hours: float, reserved_until: datetime | None = None, clinic: uuid.UUID = CLINIC) -> dict:
    starts = BASE + timedelta(hours=hours)
    return {"slot_id": uuid.uuid4(), "provider_id": uuid.uuid4(), "service_id": uuid.uuid4(), "clinic_id": clinic,
            "starts_at": starts, "ends_at": starts + timedelta(minutes=30), "capacity": 2, "remaining": 1,
            "reserved_until": reserved_until}


def test_an_entry_keeps_the_public_fields_as_json_and_what_selection_needs():
    source = row(0)
    stored = entry(source)
    answer = orjson.loads(stored["a"])
    assert tuple(answer) == PUBLIC_FIELDS
    assert answer["slot_id"] == str(source["slot_id"])
    assert answer["starts_at"] == "2026-12-01T09:00:00+00:00"
    assert (stored["t"], stored["r"], stored["c"]) == (BASE.timestamp(), None, str(CLINIC))


def test_rows_are_split_into_one_page_per_day_and_empty_days_get_empty_pages():
    rows = [row(0), row(16), row(40)]  # 1 Dec 09:00, 2 Dec 01:00, 3 Dec 01:00
    pages = pages_by_day(rows, [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 4)])
    assert [len(page) for page in pages.values()] == [1, 1, 0]


def test_selection_keeps_the_range_the_future_and_the_public_only():
    now = (BASE + timedelta(hours=1)).timestamp()
    reserved = row(3, reserved_until=BASE + timedelta(hours=2))
    lapsed = row(4, reserved_until=BASE)
    pages = [[entry(r) for r in (row(0.5), row(2), reserved, lapsed, row(30))]]
    found = [orjson.loads(text) for text in select(pages, BASE.timestamp(), (BASE + timedelta(hours=24)).timestamp(),
                                                   now)]
    assert [item["starts_at"] for item in found] == [
        (BASE + timedelta(hours=2)).isoformat(), (BASE + timedelta(hours=4)).isoformat()]
    assert all(tuple(item) == PUBLIC_FIELDS for item in found)


def test_selection_can_keep_one_clinic():
    other = uuid.uuid4()
    pages = [[entry(row(2)), entry(row(3, clinic=other))]]
    found = [orjson.loads(text) for text in select(pages, BASE.timestamp(), (BASE + timedelta(days=1)).timestamp(), 0,
                                                   str(other))]
    assert len(found) == 1
    assert found[0]["starts_at"] == (BASE + timedelta(hours=3)).isoformat()


def test_a_page_filled_again_reuses_the_entries_of_unchanged_slots_and_makes_changed_ones_anew() -> None:
    day = datetime(2030, 1, 7, tzinfo=UTC)
    rows = [{"slot_id": uuid.uuid4(), "provider_id": uuid.uuid4(), "service_id": uuid.uuid4(),
             "clinic_id": uuid.uuid4(), "starts_at": day + timedelta(hours=hour),
             "ends_at": day + timedelta(hours=hour, minutes=30), "capacity": 2, "remaining": 2,
             "reserved_until": None} for hour in (9, 10)]
    entries = Entries()
    first = pages_by_day(rows, [day.date()], entries)[day.date()]
    rows[1] = rows[1] | {"remaining": 1}  # one seat of the second slot taken since
    again = pages_by_day(rows, [day.date()], entries)[day.date()]

    assert again == [entry(row) for row in rows]  # what a page without the memo holds
    assert again[0] is first[0]
    assert again[1] is not first[1]
    assert orjson.loads(again[1]["a"])["remaining"] == 1


def test_the_entries_kept_are_bounded() -> None:
    entries = Entries(size=3)
    day = datetime(2030, 1, 7, tzinfo=UTC)
    for minute in range(10):
        entries.of({"slot_id": uuid.uuid4(), "provider_id": uuid.uuid4(), "service_id": uuid.uuid4(),
                    "clinic_id": uuid.uuid4(), "starts_at": day + timedelta(minutes=minute),
                    "ends_at": day + timedelta(minutes=minute + 15), "capacity": 1, "remaining": 1,
                    "reserved_until": None})
        assert len(entries._made) <= 3
