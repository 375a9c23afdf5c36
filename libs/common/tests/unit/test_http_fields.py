"""Request field types accept what their JSON Schema allows, and nothing pydantic's lax mode would have let in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from pydantic import BaseModel, Field

from smartslot_common.http.fields import (
    LOCAL_TIME_PATTERN,
    Boolean,
    CurrencyCode,
    Day,
    Integer,
    LocalTime,
    QueryInteger,
    Timestamp,
    TimeZoneName,
)
from smartslot_common.http.json import parse_model, parse_query
from smartslot_common.http.problems import ProblemError
from smartslot_common.http.queries import PageQuery


class Body(BaseModel):
    count: Integer = Field(0, ge=0, le=100)
    flag: Boolean = False
    at: Timestamp | None = None
    day: Day | None = None
    opens: LocalTime | None = None
    currency: CurrencyCode | None = None
    zone: TimeZoneName | None = None


def _refused(model: type[BaseModel], data: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ProblemError) as refused:
        parse_model(model, data)
    assert refused.value.status == 422
    assert refused.value.errors is not None
    return refused.value.errors


@pytest.mark.parametrize("value", [False, True, "5", 5.5, None, [5]])
def test_an_integer_is_never_a_boolean_a_string_or_a_fraction(value: Any) -> None:
    assert [error["field"] for error in _refused(Body, {"count": value})] == ["count"]


def test_an_integer_may_be_written_with_a_zero_fraction_as_json_schema_allows() -> None:
    assert parse_model(Body, {"count": 5.0}).count == 5
    assert parse_model(Body, {"count": 7}).count == 7


@pytest.mark.parametrize("value", [1, 0, "true", "yes", "1", None])
def test_a_boolean_is_true_or_false_only(value: Any) -> None:
    assert [error["field"] for error in _refused(Body, {"flag": value})] == ["flag"]


@pytest.mark.parametrize("value", [
    0.5, 1700000000, "0.5", "1700000000",  # numbers (or numerals) are not instants
    "2026-05-04T09:00:00",  # no offset
    "2026-05-04 09:00:00Z", "2026-05-04T09:00Z", "2026-05-04t09:00:00z",  # not RFC 3339's date-time
    "0957-05-04T09:00:00Z", "9999-12-31T23:59:59-14:00",  # outside the years 1900 to 8999
    "2026-02-30T09:00:00Z", "",
])
def test_a_timestamp_is_an_rfc3339_date_time_with_an_offset(value: Any) -> None:
    assert [error["field"] for error in _refused(Body, {"at": value})] == ["at"]


@pytest.mark.parametrize(("text", "instant"), [
    ("2026-05-04T09:00:00+02:00", datetime(2026, 5, 4, 7, 0, tzinfo=UTC)),
    ("2026-05-04T09:00:00.250-05:30", datetime(2026, 5, 4, 14, 30, 0, 250000, tzinfo=UTC)),
    ("2026-05-04T09:00:00Z", datetime(2026, 5, 4, 9, 0, tzinfo=UTC)),
    ("1900-01-01T00:00:00+14:00", datetime(1899, 12, 31, 10, 0, tzinfo=UTC)),
])
def test_timestamps_with_any_offset_are_read_as_the_instant_they_name(text: str, instant: datetime) -> None:
    parsed = parse_model(Body, {"at": text}).at
    assert parsed == instant
    assert parsed is not None
    assert parsed.utcoffset() is not None


def test_the_offset_is_kept() -> None:
    parsed = parse_model(Body, {"at": "2026-05-04T09:00:00-05:30"}).at
    assert parsed is not None
    assert parsed.utcoffset() == timezone(-timedelta(hours=5, minutes=30)).utcoffset(None)


def test_days_and_local_times() -> None:
    body = parse_model(Body, {"day": "2026-05-04", "opens": "09:30"})
    assert (body.day, body.opens) == (date(2026, 5, 4), time(9, 30))
    assert parse_model(Body, {"opens": "17:45:30"}).opens == time(17, 45, 30)
    for value in (0, "2026-5-4", "20260504", 1700000000):
        assert [error["field"] for error in _refused(Body, {"day": value})] == ["day"]
    for value in ("09:00Z", "09:00+01:00", "24:00", "9:00", 3600):
        assert [error["field"] for error in _refused(Body, {"opens": value})] == ["opens"]


@pytest.mark.parametrize("value", ["AAA", "eur", "XTS", "XXX", "XAU", "", 978])
def test_a_currency_is_an_iso_4217_code_money_is_counted_in(value: Any) -> None:
    errors = _refused(Body, {"currency": value})
    assert errors == [{"field": "currency", "message": "Input should be an ISO 4217 currency code, e.g. EUR",
                       "type": "enum"}]


@pytest.mark.parametrize("code", ["EUR", "USD", "JPY", "CHF", "XOF"])
def test_iso_4217_currencies_are_accepted_as_plain_strings(code: str) -> None:
    currency = parse_model(Body, {"currency": code}).currency
    assert currency == code
    assert type(currency) is str


def test_a_time_zone_is_an_iana_name() -> None:
    assert parse_model(Body, {"zone": "Europe/Berlin"}).zone == "Europe/Berlin"
    assert parse_model(Body, {"zone": "UTC"}).zone == "UTC"
    for value in ("", "Mars/Olympus_Mons", "europe/berlin", 1):
        assert [error["field"] for error in _refused(Body, {"zone": value})] == ["zone"]


def test_the_json_schema_states_what_is_accepted() -> None:
    schema = Body.model_json_schema()
    properties = schema["properties"]
    assert properties["count"] == {"default": 0, "maximum": 100, "minimum": 0, "title": "Count", "type": "integer"}
    assert properties["flag"]["type"] == "boolean"
    at = properties["at"]["anyOf"][0]
    assert at["format"] == "date-time"
    assert at["pattern"].startswith("^(19|[2-8][0-9])")
    assert properties["opens"]["anyOf"][0] == {"type": "string", "pattern": LOCAL_TIME_PATTERN}
    assert "EUR" in schema["$defs"]["Currency"]["enum"]
    assert "AAA" not in schema["$defs"]["Currency"]["enum"]
    assert "Europe/Berlin" in schema["$defs"]["TimeZone"]["enum"]


class Query(BaseModel):
    limit: QueryInteger = Field(50, ge=1, le=200)


@pytest.mark.parametrize("text", ["true", "5.0", "5_0", " 5", "+5", "", "١٢"])
def test_a_query_integer_is_written_in_decimal_digits(text: str) -> None:
    assert [error["field"] for error in _refused(Query, {"limit": text})] == ["limit"]


def test_a_query_integer_in_digits_is_read() -> None:
    assert parse_model(Query, {"limit": "17"}).limit == 17


def _query(path: str, model: type[BaseModel]) -> BaseModel:
    return parse_query(make_mocked_request("GET", path, app=web.Application()), model)


def test_a_parameter_given_twice_is_refused_not_read_as_either() -> None:
    with pytest.raises(ProblemError) as refused:
        _query("/items?limit=1&limit=9", PageQuery)
    assert refused.value.status == 422
    assert [error["field"] for error in refused.value.errors or []] == ["limit"]


@pytest.mark.parametrize("path", ["/items?cursor=", "/items?cursor=not%20base64", "/items?limit=0",
                                  "/items?limit=true", "/items?page=2"])
def test_a_page_query_refuses_an_empty_or_foreign_cursor_a_bad_limit_and_unknown_parameters(path: str) -> None:
    with pytest.raises(ProblemError) as refused:
        _query(path, PageQuery)
    assert refused.value.status == 422


def test_a_page_query_reads_a_cursor_and_a_limit() -> None:
    query = _query("/items?limit=20&cursor=WyIyMDI2Il0=", PageQuery)
    assert isinstance(query, PageQuery)
    assert (query.limit, query.cursor) == (20, "WyIyMDI2Il0=")
