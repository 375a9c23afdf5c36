"""Booking's request bodies and query strings take what the published schema allows and refuse the rest with 422:
a boolean is not a number, a number is not a timestamp, `AAA` is not a currency, an empty cursor is no cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from booking.entrypoints.routes_appointments import ListQuery
from booking.entrypoints.schemas import (
    CreateClinic,
    CreateService,
    CreateSlot,
    CreateTimeOff,
    PageQuery,
    ProviderQuery,
    SeatAtTimeRequest,
    SetWorkingHours,
    UpdateService,
)
from smartslot_common.http.json import parse_model
from smartslot_common.http.problems import ProblemError

SERVICE = {
    "name": "Check-up", "duration_minutes": 30, "price_cents": 5000, "currency": "EUR",
    "cancellation_policy": {"kind": "strict", "window_hours": 24, "fee_percent": 50},
}
SLOT = {"service_id": str(uuid.uuid4()), "starts_at": "2026-12-01T09:00:00+01:00"}


def _refused_fields(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    with pytest.raises(ProblemError) as refused:
        parse_model(model, data)
    assert refused.value.status == 422
    assert refused.value.code == "validation_error"
    return [error["field"] for error in refused.value.errors or []]


@pytest.mark.parametrize(("change", "field"), [
    ({"cancellation_policy": {"kind": "strict", "fee_percent": False}}, "cancellation_policy.strict.fee_percent"),
    ({"cancellation_policy": {"kind": "strict", "window_hours": True}}, "cancellation_policy.strict.window_hours"),
    ({"cancellation_policy": {"kind": "tiered", "tiers": [{"within_hours": 1, "fee_percent": False}]}},
     "cancellation_policy.tiered.tiers.0.fee_percent"),
    ({"duration_minutes": True}, "duration_minutes"),
    ({"price_cents": "5000"}, "price_cents"),
    ({"price_cents": 49.5}, "price_cents"),
    ({"currency": "AAA"}, "currency"),
    ({"currency": "eur"}, "currency"),
])
def test_a_service_with_a_boolean_for_a_number_or_an_unknown_currency_is_refused(change: dict, field: str) -> None:
    assert _refused_fields(CreateService, SERVICE | change) == [field]


def test_a_valid_service_is_accepted_with_integers_written_as_json_numbers() -> None:
    service = parse_model(CreateService, SERVICE | {"duration_minutes": 30.0, "currency": "JPY"})
    assert (service.duration_minutes, service.currency) == (30, "JPY")
    assert type(service.duration_minutes) is int


@pytest.mark.parametrize("change", [{"currency": "AAA"}, {"duration_minutes": False}, {"currency": None}])
def test_a_service_change_is_as_strict_as_a_new_service(change: dict) -> None:
    assert _refused_fields(UpdateService, change) == list(change)


@pytest.mark.parametrize("starts_at", [0.5, 1764576000, "0.5", "1764576000", "2026-12-01T09:00:00", True])
def test_a_number_is_not_a_timestamp(starts_at: Any) -> None:
    assert _refused_fields(CreateSlot, SLOT | {"starts_at": starts_at}) == ["starts_at"]
    assert _refused_fields(SeatAtTimeRequest, SLOT | {"starts_at": starts_at}) == ["starts_at"]


@pytest.mark.parametrize(("text", "instant"), [
    ("2026-12-01T09:00:00+01:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
    ("2026-12-01T09:00:00-05:30", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
    ("2026-12-01T08:00:00.5Z", datetime(2026, 12, 1, 8, 0, 0, 500000, tzinfo=UTC)),
])
def test_timestamps_with_offsets_are_accepted(text: str, instant: datetime) -> None:
    assert parse_model(CreateSlot, SLOT | {"starts_at": text}).starts_at == instant
    assert parse_model(SeatAtTimeRequest, SLOT | {"starts_at": text}).starts_at == instant


def test_time_off_refuses_numbers_for_instants_and_for_its_flag() -> None:
    body = {"starts_at": "2026-12-01T09:00:00Z", "ends_at": "2026-12-01T12:00:00+01:00", "reason": "Training"}
    assert parse_model(CreateTimeOff, body).cancel_conflicting is False
    assert _refused_fields(CreateTimeOff, body | {"cancel_conflicting": 1}) == ["cancel_conflicting"]
    assert _refused_fields(CreateTimeOff, body | {"ends_at": 1764583200}) == ["ends_at"]


def test_working_hours_are_local_times_and_weekdays_are_integers() -> None:
    rule = {"weekday": 0, "start": "09:00", "end": "17:00", "service_id": str(uuid.uuid4())}
    assert parse_model(SetWorkingHours, {"rules": [rule]}).rules[0].weekday == 0
    assert _refused_fields(SetWorkingHours, {"rules": [rule | {"weekday": False}]}) == ["rules.0.weekday"]
    assert _refused_fields(SetWorkingHours, {"rules": [rule | {"start": "09:00Z"}]}) == ["rules.0.start"]
    assert _refused_fields(SetWorkingHours, {"rules": [rule | {"end": 61200}]}) == ["rules.0.end"]


@pytest.mark.parametrize("timezone", ["", "Europe/Nowhere", 1])
def test_a_clinic_names_an_iana_time_zone(timezone: Any) -> None:
    assert _refused_fields(CreateClinic, {"name": "North", "timezone": timezone}) == ["timezone"]
    assert parse_model(CreateClinic, {"name": "North", "timezone": "America/New_York"}).timezone == "America/New_York"


@pytest.mark.parametrize("model", [PageQuery, ProviderQuery, ListQuery])
def test_an_empty_cursor_is_refused_and_an_absent_one_is_fine(model: type[BaseModel]) -> None:
    assert _refused_fields(model, {"cursor": ""}) == ["cursor"]
    assert parse_model(model, {}).cursor is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("query", [{"limit": "true"}, {"limit": "0"}, {"limit": "5.0"}, {"limit": ["1", "2"]}])
def test_a_limit_is_an_integer_in_range_given_once(query: dict) -> None:
    assert _refused_fields(ListQuery, query) == ["limit"]


def test_an_appointment_range_is_read_with_its_offsets_and_refused_backwards_or_as_numbers() -> None:
    query = parse_model(ListQuery, {"from": "2026-12-01T00:00:00+01:00", "to": "2026-12-02T00:00:00-01:00"})
    assert query.starts_from == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert _refused_fields(ListQuery, {"from": "0.5"}) == ["from"]
    assert _refused_fields(ListQuery, {"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}) == ["to"]
