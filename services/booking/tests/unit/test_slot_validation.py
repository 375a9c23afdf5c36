"""The validation chain run before every booking (seed 004): exists → live → not full → not started.

Seed 004's pipeline is ValidateTimeSlotExists → ValidateTimeSlotAvailable → ValidateTimeSlotNotBooked →
ValidateTimeSlotNotPast; booking's links map one to one (available = the slot is still offered, `status = 'open'`;
not booked = seats remain), so when several links fail, the earliest one in that order answers. A full slot answers
`slot_held` while one of its seats is only held, `slot_unavailable` once every seat is booked.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.errors import BookingError, SlotHeld, SlotInPast, SlotNotFound, SlotUnavailable
from booking.domain.slot import BOOKING_CHECKS, Slot, validate_bookable

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def a_slot(**changes: object) -> Slot:
    slot = Slot(
        id=uuid.uuid4(), provider_id=uuid.uuid4(), service_id=uuid.uuid4(),
        starts_at=NOW + timedelta(hours=1), ends_at=NOW + timedelta(hours=1, minutes=30),
        capacity=1, held=0, booked=0, status="open", version=1,
    )
    return replace(slot, **changes)


def code_of(slot: Slot | None, now: datetime = NOW) -> str | None:
    try:
        validate_bookable(slot, now)
    except BookingError as error:
        return error.code
    return None


def test_a_bookable_slot_passes_and_is_returned() -> None:
    slot = a_slot()
    assert validate_bookable(slot, NOW) is slot


def test_a_missing_slot_is_slot_not_found() -> None:
    with pytest.raises(SlotNotFound):
        validate_bookable(None, NOW)


@pytest.mark.parametrize("status", ["blocked", "deleted"])
def test_a_slot_no_longer_offered_is_unavailable(status: str) -> None:
    with pytest.raises(SlotUnavailable, match="no longer offered"):
        validate_bookable(a_slot(status=status), NOW)


@pytest.mark.parametrize(("capacity", "booked"), [(1, 1), (3, 3)])
def test_a_slot_full_of_bookings_is_unavailable(capacity: int, booked: int) -> None:
    with pytest.raises(SlotUnavailable, match="no longer available"):
        validate_bookable(a_slot(capacity=capacity, booked=booked), NOW)


@pytest.mark.parametrize(("capacity", "held", "booked"), [(1, 1, 0), (3, 1, 2), (3, 3, 0)])
def test_a_full_slot_with_a_seat_only_held_is_slot_held(capacity: int, held: int, booked: int) -> None:
    """A held seat may come back (its hold expires or is given up): the client is told the slot is held."""
    with pytest.raises(SlotHeld, match="holding this slot"):
        validate_bookable(a_slot(capacity=capacity, held=held, booked=booked), NOW)


def test_a_slot_with_seats_left_is_bookable() -> None:
    slot = a_slot(capacity=3, held=1, booked=1)
    assert slot.remaining == 1
    assert validate_bookable(slot, NOW) is slot


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(seconds=-1), timedelta(days=-3)])
def test_a_slot_that_has_started_is_in_the_past(offset: timedelta) -> None:
    with pytest.raises(SlotInPast):
        validate_bookable(a_slot(starts_at=NOW + offset), NOW)


def test_one_microsecond_before_the_start_is_still_bookable() -> None:
    assert code_of(a_slot(starts_at=NOW + timedelta(microseconds=1))) is None


def test_a_deleted_full_past_slot_reports_slot_unavailable_before_slot_in_past() -> None:
    slot = a_slot(status="deleted", capacity=1, booked=1, starts_at=NOW - timedelta(hours=1))
    with pytest.raises(SlotUnavailable, match="no longer offered"):  # the "live" link, not the "full" one
        validate_bookable(slot, NOW)


def test_an_open_full_past_slot_reports_full_before_past() -> None:
    slot = a_slot(booked=1, starts_at=NOW - timedelta(hours=1))
    with pytest.raises(SlotUnavailable, match="no longer available"):
        validate_bookable(slot, NOW)


def test_the_chain_order_is_seed_004s() -> None:
    names = [check.__name__ for check in BOOKING_CHECKS]
    # exists is the `None` test before the loop; then available, not booked, not past.
    assert names == ["_is_live", "_is_not_full", "_has_not_started"]


def test_a_custom_chain_runs_only_its_own_links() -> None:
    past = a_slot(starts_at=NOW - timedelta(hours=1), held=1)
    assert validate_bookable(past, NOW, checks=()) is past
    with pytest.raises(SlotNotFound):
        validate_bookable(None, NOW, checks=())


SEED_ORDER = ("exists", "available", "not_booked", "not_past")
EXPECTED_CODE = {
    "exists": "slot_not_found", "available": "slot_unavailable",
    "not_booked": "slot_unavailable", "not_past": "slot_in_past",
}


@given(
    exists=st.booleans(), live=st.booleans(), has_seats=st.booleans(), future=st.booleans(),
    status=st.sampled_from(["blocked", "deleted"]), capacity=st.integers(1, 5), offset_s=st.integers(1, 10**7),
)
def test_the_first_failing_link_in_seed_order_answers(
    exists: bool, live: bool, has_seats: bool, future: bool, status: str, capacity: int, offset_s: int
) -> None:
    slot = a_slot(
        capacity=capacity,
        booked=capacity - 1 if has_seats else capacity,
        status="open" if live else status,
        starts_at=NOW + timedelta(seconds=offset_s if future else -offset_s),
    )
    passes = {"exists": exists, "available": live, "not_booked": has_seats, "not_past": future}
    failing = [link for link in SEED_ORDER if not passes[link]]
    expected = EXPECTED_CODE[failing[0]] if failing else None
    assert code_of(slot if exists else None) == expected
