"""Catalog and schedule requests without a server: list cursors, partial updates, time off, weekly rules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from booking.entrypoints import schemas
from booking.entrypoints.routes_catalog import decode_cursor, encode_cursor
from smartslot_common.http.problems import ProblemError

SERVICE = str(uuid.uuid4())


def fields_of(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in item["loc"]) for item in error.errors()}


# --- cursors --------------------------------------------------------------------------------------------------------


@given(st.text(max_size=200), st.uuids())
def test_a_cursor_names_the_position_it_was_made_from(key: str, last_id: uuid.UUID) -> None:
    cursor = encode_cursor((key, last_id))
    assert cursor is not None
    assert cursor.isascii()
    assert not set(cursor) & set("=/+"), "URL-safe, unpadded"
    assert decode_cursor(cursor) == (key, last_id)


def test_the_last_page_has_no_cursor_and_no_cursor_means_the_first_page() -> None:
    assert encode_cursor(None) is None
    assert decode_cursor(None) is None


@pytest.mark.parametrize(
    "cursor", ["x", "!!!", "bm90IGpzb24", "WzEsMl0", "WyJhIiwibm90LWEtdXVpZCJd", "eyJhIjogMX0", "WyJhIl0"],
)
def test_a_cursor_this_service_did_not_hand_out_is_422(cursor: str) -> None:
    with pytest.raises(ProblemError) as refused:
        decode_cursor(cursor)
    assert (refused.value.status, refused.value.code) == (422, "validation_error")
    assert [error["field"] for error in refused.value.errors or []] == ["cursor"]


@pytest.mark.parametrize(("query", "field"), [({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"),
                                              ({"limit": "ten"}, "limit"), ({"page": "2"}, "page")])
def test_list_queries_are_bounded(query: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        schemas.PageQuery.model_validate(query)
    assert fields_of(invalid.value) == {field}


def test_a_list_defaults_to_fifty_and_providers_filter_by_uuid() -> None:
    assert schemas.PageQuery.model_validate({}).limit == 50
    query = schemas.ProviderQuery.model_validate({"limit": "200", "service_id": SERVICE})
    assert (query.limit, query.service_id) == (200, uuid.UUID(SERVICE))
    with pytest.raises(ValidationError) as invalid:
        schemas.ProviderQuery.model_validate({"clinic_id": "nope"})
    assert fields_of(invalid.value) == {"clinic_id"}


# --- partial updates ------------------------------------------------------------------------------------------------


def test_a_service_update_carries_only_what_was_sent_with_the_policy_in_full() -> None:
    update = schemas.UpdateService.model_validate({"price_cents": 0, "cancellation_policy": {"kind": "strict"}})
    assert update.model_dump(mode="json", include=update.model_fields_set) == {
        "price_cents": 0, "cancellation_policy": {"kind": "strict", "window_hours": 24, "fee_percent": 50},
    }
    assert schemas.UpdateService.model_validate({}).model_fields_set == set()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"duration_minutes": 4}, "duration_minutes"),
        ({"price_cents": -1}, "price_cents"),
        ({"currency": "eur"}, "currency"),
        ({"cancellation_policy": {"kind": "lenient"}}, "cancellation_policy"),
        ({"id": SERVICE}, "id"),
    ],
)
def test_a_service_update_is_validated_like_a_new_service(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        schemas.UpdateService.model_validate(body)
    assert {name.split(".")[0] for name in fields_of(invalid.value)} == {field}


def test_a_clinic_update_may_clear_the_address_but_not_the_name_or_zone() -> None:
    update = schemas.UpdateClinic.model_validate({"address": None})
    assert update.model_dump(mode="json", include=update.model_fields_set) == {"address": None}
    for body in ({"name": None}, {"timezone": None}, {"timezone": "Mars/Base"}):
        with pytest.raises(ValidationError):
            schemas.UpdateClinic.model_validate(body)


# --- time off and weekly rules --------------------------------------------------------------------------------------


def test_time_off_needs_zoned_instants_in_order_and_a_reason() -> None:
    ok = schemas.CreateTimeOff.model_validate(
        {"starts_at": "2026-05-04T09:00:00+02:00", "ends_at": "2026-05-04T07:00:01Z", "reason": "dentist"}
    )
    assert ok.cancel_conflicting is False
    for body, field in [
        ({"starts_at": "2026-05-04T09:00:00+02:00", "ends_at": "2026-05-04T07:00:00Z", "reason": "x"}, "ends_at"),
        ({"starts_at": "2026-05-04T09:00:00", "ends_at": "2026-05-05T09:00:00Z", "reason": "x"}, "starts_at"),
        ({"starts_at": "2026-05-04T09:00:00Z", "ends_at": "2026-05-05T09:00:00Z", "reason": ""}, "reason"),
        ({"starts_at": "2026-05-04T09:00:00Z", "ends_at": "2026-05-05T09:00:00Z"}, "reason"),
    ]:
        with pytest.raises(ValidationError) as invalid:
            schemas.CreateTimeOff.model_validate(body)
        assert fields_of(invalid.value) == {field}


def test_overlapping_rules_of_one_weekday_are_refused_on_the_rules_field() -> None:
    rules = [{"weekday": 2, "start": "09:00", "end": "12:00", "service_id": SERVICE},
             {"weekday": 2, "start": "11:30", "end": "14:00", "service_id": SERVICE}]
    with pytest.raises(ValidationError) as invalid:
        schemas.SetWorkingHours(rules=rules)
    assert fields_of(invalid.value) == {"rules"}
    back_to_back = [rules[0], {**rules[1], "start": "12:00"}]
    assert len(schemas.SetWorkingHours(rules=back_to_back).rules) == 2


def test_a_rules_times_are_local_wall_clock_times_without_an_offset() -> None:
    with pytest.raises(ValidationError) as invalid:
        schemas.WorkingHoursRuleIn(weekday=0, start="09:00+02:00", end="17:00", service_id=SERVICE)
    assert fields_of(invalid.value) == {"start"}
