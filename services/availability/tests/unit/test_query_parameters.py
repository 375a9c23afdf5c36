"""Availability's query strings: instants are RFC 3339 date-times with an offset (never a number of seconds), days
are YYYY-MM-DD, and nothing else gets in; the published schema says the same."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from pydantic import BaseModel

from availability.entrypoints.analytics import AnalyticsQuery
from availability.entrypoints.http import AvailabilityQuery
from availability.entrypoints.schedule import ScheduleQuery
from smartslot_common.http.json import parse_model
from smartslot_common.http.problems import ProblemError

SEARCH = {"service_id": str(uuid.uuid4()), "from": "2026-12-01T00:00:00+01:00", "to": "2026-12-08T00:00:00Z"}


def _refused_fields(model: type[BaseModel], query: dict[str, object]) -> list[str]:
    with pytest.raises(ProblemError) as refused:
        parse_model(model, query)
    assert refused.value.status == 422
    return [error["field"] for error in refused.value.errors or []]


def test_a_search_reads_instants_with_their_offsets() -> None:
    query = parse_model(AvailabilityQuery, SEARCH)
    assert (query.from_, query.to) == (datetime(2026, 11, 30, 23, 0, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))


@pytest.mark.parametrize("value", ["0.5", "1764576000", "2026-12-01", "2026-12-01T00:00:00", "",
                                   "0957-11-11T11:07:11.01+02:34"])
def test_a_search_refuses_what_is_not_an_instant(value: str) -> None:
    assert _refused_fields(AvailabilityQuery, SEARCH | {"from": value}) == ["from"]
    assert _refused_fields(AnalyticsQuery, {"from": value, "to": SEARCH["to"]}) == ["from"]


def test_a_search_refuses_a_parameter_it_does_not_know() -> None:
    assert _refused_fields(AvailabilityQuery, SEARCH | {"limit": "5"}) == ["limit"]


@pytest.mark.parametrize("value", ["1764576000", "2026-12-1", "0900-01-01", "2026-12-01T00:00:00Z"])
def test_a_schedule_day_is_a_date(value: str) -> None:
    assert _refused_fields(ScheduleQuery, {"date": value}) == ["date"]
    assert parse_model(ScheduleQuery, {"date": "2026-12-01"}).date == date(2026, 12, 1)
