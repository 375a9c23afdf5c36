"""The console's form checks: each bad field gets its message, good ones become what the API is sent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from console.domain.forms import (
    FormErrors,
    read_clinic,
    read_period,
    read_search,
    read_service,
    read_slot,
    read_time_off,
)
from console.domain.hours import read_working_hours

BERLIN = ZoneInfo("Europe/Berlin")
TODAY = date(2026, 3, 27)


def messages(call, *args) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(FormErrors) as refused:
        call(*args)
    return refused.value.messages


def test_a_search_is_days_of_the_clinics_zone() -> None:
    search = read_search({"service_id": "s", "from": "2026-03-28", "to": "2026-03-29"}, BERLIN, TODAY)
    assert search.start == datetime(2026, 3, 28, tzinfo=BERLIN)
    assert search.end == datetime(2026, 3, 30, tzinfo=BERLIN)  # the whole last day, across the DST change
    assert (search.end.astimezone(UTC) - search.start.astimezone(UTC)).total_seconds() == 47 * 3600


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"from": "2026-03-28", "to": "2026-03-29"}, "service_id", "The service is required."),
    ({"service_id": "s", "from": "", "to": "2026-03-29"}, "from", "From is required."),
    ({"service_id": "s", "from": "2026-03-20", "to": "2026-03-29"}, "from", "From cannot be in the past."),
    ({"service_id": "s", "from": "2026-03-28", "to": "2026-03-27"}, "to", "To must not be before From."),
    ({"service_id": "s", "from": "2026-03-28", "to": "2026-04-28"}, "to", "Search at most 31 days at once."),
    ({"service_id": "s", "from": "28.03.2026", "to": "2026-04-01"}, "from", "From must be a date (YYYY-MM-DD)."),
])
def test_a_bad_search_names_the_field(form: dict[str, str], field: str, message: str) -> None:
    assert messages(read_search, form, BERLIN, TODAY)[field] == message


def test_thirty_one_days_is_the_longest_search() -> None:
    assert read_search({"service_id": "s", "from": "2026-03-28", "to": "2026-04-27"}, BERLIN, TODAY)


def test_time_off_must_end_after_it_starts_and_in_the_future() -> None:
    now = datetime(2026, 3, 27, 12, tzinfo=UTC)
    start, end, reason = read_time_off({"starts_at": "2026-03-30T12:00", "ends_at": "2026-03-30T18:00"}, BERLIN, now)
    assert (start, end, reason) == (
        datetime(2026, 3, 30, 12, tzinfo=BERLIN), datetime(2026, 3, 30, 18, tzinfo=BERLIN), "Time off")
    assert messages(read_time_off, {"starts_at": "2026-03-30T12:00", "ends_at": "2026-03-30T11:00"}, BERLIN, now) == {
        "ends_at": "End must be after start."}
    assert messages(read_time_off, {"starts_at": "2026-03-01T12:00", "ends_at": "2026-03-02T11:00"}, BERLIN,
                    now) == {"ends_at": "End cannot be in the past."}
    assert messages(read_time_off, {}, BERLIN, now) == {
        "starts_at": "Start is required.", "ends_at": "End is required."}


def test_a_slot_in_the_past_is_refused() -> None:
    now = datetime(2026, 3, 27, 12, tzinfo=UTC)
    assert messages(read_slot, {"service_id": "s", "starts_at": "2026-03-27T08:00"}, BERLIN, now) == {
        "starts_at": "Start cannot be in the past."}
    assert read_slot({"service_id": "s", "starts_at": "2026-03-28T08:00", "capacity": "3"}, BERLIN, now)[2] == 3


def test_working_hours_are_the_ticked_days() -> None:
    form = {"works_0": "1", "start_0": "09:00", "end_0": "17:00", "service_0": "s",
            "start_1": "09:00", "end_1": "17:00", "service_1": "s"}
    assert read_working_hours(form) == [{"weekday": 0, "start": "09:00", "end": "17:00", "service_id": "s"}]
    assert messages(read_working_hours, {"works_2": "1", "start_2": "12:00", "end_2": "08:00", "service_2": "s"}) == {
        "end_2": "Wednesday's end must be after its start."}


def test_a_service_with_each_kind_of_policy() -> None:
    base = {"name": "Check-up", "duration_minutes": "30", "price": "49.90", "currency": "eur"}
    assert read_service(base | {"policy_kind": "flexible"}) == {
        "name": "Check-up", "duration_minutes": 30, "price_cents": 4990, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"}}
    strict = read_service(base | {"policy_kind": "strict", "window_hours": "24", "fee_percent": "50"})
    assert strict["cancellation_policy"] == {"kind": "strict", "window_hours": 24, "fee_percent": 50}
    tiered = read_service(base | {"policy_kind": "tiered", "tiers": "2:100, 24:50"})
    assert tiered["cancellation_policy"]["tiers"] == [{"within_hours": 2, "fee_percent": 100},
                                                      {"within_hours": 24, "fee_percent": 50}]
    assert "tiers" in messages(read_service, base | {"policy_kind": "tiered", "tiers": "two hours"})
    assert messages(read_service, {"policy_kind": "flexible"}).keys() == {
        "name", "duration_minutes", "price", "currency"}


def test_a_clinic_needs_a_real_time_zone() -> None:
    assert read_clinic({"name": "Mitte", "timezone": "Europe/Berlin"}) == {"name": "Mitte", "timezone": "Europe/Berlin"}
    assert messages(read_clinic, {"name": "Mitte", "timezone": "Mars/Olympus"}) == {
        "timezone": "Use an IANA time zone such as Europe/Berlin."}


def test_the_analytics_period_defaults_to_two_weeks_back_and_one_ahead() -> None:
    assert read_period({}, TODAY) == (date(2026, 3, 14), date(2026, 4, 3))
    assert "to" in messages(read_period, {"from": "2026-03-27", "to": "2026-03-01"}, TODAY)
