"""The request bodies of getting a seat: the service-and-start shape and the waitlist's internal hold."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from booking.entrypoints import schemas

SERVICE, PROVIDER = str(uuid.uuid4()), str(uuid.uuid4())


def test_a_seat_at_a_time_names_the_provider_or_not() -> None:
    request = schemas.SeatAtTimeRequest(service_id=SERVICE, starts_at="2026-12-01T09:00:00+01:00")
    assert request.provider_id is None
    named = schemas.SeatAtTimeRequest(service_id=SERVICE, starts_at="2026-12-01T08:00:00Z", provider_id=PROVIDER)
    assert str(named.provider_id) == PROVIDER


@pytest.mark.parametrize("body", [
    {"service_id": SERVICE, "starts_at": "2026-12-01T09:00:00"},  # no offset: which 09:00?
    {"service_id": SERVICE},
    {"starts_at": "2026-12-01T09:00:00Z"},
    {"service_id": SERVICE, "starts_at": "2026-12-01T09:00:00Z", "slot_id": SERVICE},
])
def test_a_seat_at_a_time_refuses_what_is_ambiguous(body: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        schemas.SeatAtTimeRequest.model_validate(body)


def test_the_waitlist_hold_carries_client_and_ttl() -> None:
    hold = schemas.WaitlistHoldRequest(slot_id=SERVICE, client_id=PROVIDER, ttl_seconds=300)
    assert hold.ttl_seconds == 300


@pytest.mark.parametrize("ttl", [0, -5, 24 * 3600 + 1])
def test_the_waitlist_hold_ttl_is_bounded(ttl: int) -> None:
    with pytest.raises(ValidationError):
        schemas.WaitlistHoldRequest(slot_id=SERVICE, client_id=PROVIDER, ttl_seconds=ttl)


def test_any_json_object_reads_as_its_dict() -> None:
    assert schemas.JsonObject.model_validate({"slot_id": SERVICE}).root == {"slot_id": SERVICE}
    with pytest.raises(ValidationError):
        schemas.JsonObject.model_validate([SERVICE])
