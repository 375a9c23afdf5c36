"""The offer's state machine and the seat's next step."""

from __future__ import annotations

import uuid

import pytest

from waitlist.domain import offers
from waitlist.domain.errors import IllegalTransition
from waitlist.domain.offers import SeatState, Step, check_transition, idempotency_key, next_step

ALL = tuple(offers.TRANSITIONS)


@pytest.mark.parametrize(("current", "target"), [
    ("requesting", "pending"), ("requesting", "failed"), ("pending", "accepted"), ("pending", "expired"),
])
def test_the_allowed_moves(current: str, target: str):
    check_transition(current, target)


@pytest.mark.parametrize("current", ALL)
@pytest.mark.parametrize("target", ALL)
def test_everything_else_is_refused(current: str, target: str):
    if target in offers.TRANSITIONS[current]:
        return
    with pytest.raises(IllegalTransition):
        check_transition(current, target)


@pytest.mark.parametrize("final", ["accepted", "expired", "failed"])
def test_a_decided_offer_never_moves_again(final: str):
    assert offers.TRANSITIONS[final] == frozenset()


def test_pending_is_left_exactly_once_for_one_of_two_outcomes():
    assert offers.TRANSITIONS["pending"] == {"accepted", "expired"}


def test_each_attempt_has_its_own_key_and_the_same_attempt_the_same_key():
    offer = uuid.uuid4()
    assert idempotency_key(offer, 1) == idempotency_key(offer, 1)
    assert idempotency_key(offer, 1) != idempotency_key(offer, 2)
    assert idempotency_key(offer, 1) != idempotency_key(uuid.uuid4(), 1)
    assert len(idempotency_key(offer, 99)) <= 255  # booking's limit


@pytest.mark.parametrize(("state", "step"), [
    (SeatState(open=False, has_candidate=True), Step.WAIT),
    (SeatState(open=True, request_in_flight=True, has_candidate=True), Step.WAIT),
    (SeatState(open=True, pending=True, has_candidate=True), Step.WAIT),
    (SeatState(open=True, pending=True, pending_overdue=True, has_candidate=True), Step.OFFER),
    (SeatState(open=True, pending=True, pending_overdue=True, has_candidate=False), Step.WAIT),
    (SeatState(open=True, has_candidate=True), Step.OFFER),
    (SeatState(open=True, has_candidate=False), Step.CLOSE),
])
def test_the_seat_waits_offers_or_closes(state: SeatState, step: Step):
    assert next_step(state) is step


def test_the_entry_follows_its_offer():
    assert offers.ENTRY_FOLLOWS["pending"] == (("waiting",), "offered")
    assert offers.ENTRY_FOLLOWS["accepted"] == (("offered",), "booked")
    assert offers.ENTRY_FOLLOWS["expired"] == (("offered",), "expired")
