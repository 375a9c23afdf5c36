"""Webhook endpoint bodies and the lists' query strings take what the published schema allows, nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from notifier.entrypoints.admin_webhooks import EndpointChange, EndpointIn, LogQuery
from smartslot_common.http.json import parse_model
from smartslot_common.http.problems import ProblemError

ENDPOINT = {"url": "https://hooks.example.org/smartslot", "event_types": ["appointment.confirmed"]}


def _refused_fields(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    with pytest.raises(ProblemError) as refused:
        parse_model(model, data)
    assert refused.value.status == 422
    return [error["field"] for error in refused.value.errors or []]


@pytest.mark.parametrize(("change", "field"), [
    ({"url": ""}, "url"), ({"url": "ftp://hooks.example.org"}, "url"), ({"event_types": []}, "event_types"),
    ({"event_types": ["appointment.unknown"]}, "event_types.0"),
])
def test_an_endpoint_needs_an_http_url_and_known_event_types(change: dict, field: str) -> None:
    assert _refused_fields(EndpointIn, ENDPOINT | change) == [field]


@pytest.mark.parametrize("change", [{"enabled": 1}, {"enabled": "true"}, {"enabled": None}, {"url": None},
                                    {"event_types": None}])
def test_a_change_takes_a_boolean_for_enabled_and_no_null_but_for_the_description(change: dict) -> None:
    assert _refused_fields(EndpointChange, change) == list(change)


def test_a_change_may_clear_the_description_and_re_enable() -> None:
    change = parse_model(EndpointChange, {"description": None, "enabled": True})
    assert change.model_dump(exclude_unset=True) == {"description": None, "enabled": True}


@pytest.mark.parametrize(("query", "field"), [
    ({"cursor": ""}, "cursor"), ({"limit": "true"}, "limit"), ({"status": "lost"}, "status"), ({"page": "2"}, "page"),
])
def test_a_delivery_log_query_refuses_an_empty_cursor_a_non_integer_limit_and_unknown_parameters(
    query: dict, field: str
) -> None:
    assert _refused_fields(LogQuery, query) == [field]
    assert parse_model(LogQuery, {"status": "failed", "limit": "10"}).limit == 10
