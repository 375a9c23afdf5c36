"""What may be asked for when joining, and the request body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from smartslot_common.http.json import parse_model
from smartslot_common.http.problems import ProblemError
from waitlist.domain.errors import InvalidWish
from waitlist.domain.model import Wish, check_wish
from waitlist.entrypoints.schemas import Cursor, JoinWaitlist, WaitlistQuery

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SERVICE = uuid.uuid4()


def test_kinds():
    assert Wish(SERVICE, slot_id=uuid.uuid4()).kind == "slot"
    assert Wish(SERVICE, provider_id=uuid.uuid4()).kind == "provider"
    assert Wish(SERVICE).kind == "service"


@pytest.mark.parametrize(("wish", "field"), [
    (Wish(SERVICE, window_from=NOW + timedelta(hours=2), window_to=NOW + timedelta(hours=1)), "from"),
    (Wish(SERVICE, window_from=NOW + timedelta(hours=1), window_to=NOW + timedelta(hours=1)), "from"),
    (Wish(SERVICE, window_to=NOW), "to"),
    (Wish(SERVICE, slot_id=uuid.uuid4(), window_from=NOW + timedelta(hours=1)), "from"),
])
def test_wishes_nothing_could_match_are_refused(wish: Wish, field: str):
    with pytest.raises(InvalidWish) as refused:
        check_wish(wish, NOW)
    assert refused.value.field == field


def test_open_windows_are_fine():
    check_wish(Wish(SERVICE, window_from=NOW - timedelta(days=1)), NOW)
    check_wish(Wish(SERVICE, window_to=NOW + timedelta(seconds=1)), NOW)


def test_the_body_uses_from_and_to():
    body = parse_model(JoinWaitlist, {"service_id": str(SERVICE), "from": "2030-01-02T09:00:00+01:00"})
    assert body.wish() == Wish(SERVICE, window_from=datetime(2030, 1, 2, 8, 0, tzinfo=UTC))


@pytest.mark.parametrize("body", [
    {},
    {"service_id": "not-a-uuid"},
    {"service_id": str(SERVICE), "priority": 5},  # clients cannot jump the queue
    {"service_id": str(SERVICE), "from": "2030-01-02T09:00:00"},  # no offset
])
def test_bad_bodies_are_422(body: dict):
    with pytest.raises(ProblemError) as refused:
        parse_model(JoinWaitlist, body)
    assert refused.value.status == 422


def test_cursors_round_trip_and_foreign_ones_are_refused():
    cursor = Cursor(created_at=NOW, id=uuid.uuid4())
    assert Cursor.decode(cursor.encode()) == cursor
    with pytest.raises(ProblemError):
        parse_model(WaitlistQuery, {"cursor": "bm90IGEgY3Vyc29y"})


@pytest.mark.parametrize("value", [0.5, 1893571200, "0.5", True])
def test_a_window_is_never_a_number(value: object):
    with pytest.raises(ProblemError) as refused:
        parse_model(JoinWaitlist, {"service_id": str(SERVICE), "to": value})
    assert [error["field"] for error in refused.value.errors or []] == ["to"]


@pytest.mark.parametrize("query", [{"cursor": ""}, {"limit": "false"}, {"limit": ["5", "6"]}, {"page": "2"}])
def test_a_list_query_refuses_an_empty_cursor_a_non_integer_limit_and_unknown_parameters(query: dict):
    with pytest.raises(ProblemError) as refused:
        parse_model(WaitlistQuery, query)
    assert refused.value.status == 422
