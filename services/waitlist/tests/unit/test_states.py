"""The three state machines (offer, seat, entry): every legal move allowed, every other refused, the database's
words kept, and the walk's next step."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from waitlist.domain.errors import IllegalTransition
from waitlist.domain.model import FreeSeat
from waitlist.domain.offers import Candidate, Offer, OfferMove, idempotency_key
from waitlist.domain.seats import Release, Seat, Step, next_step
from waitlist.domain.states import (
    ENTRY_BOOKED_LATE,
    ENTRY_FOLLOWS_OFFER,
    ENTRY_MOVES,
    OFFER_MOVES,
    SEAT_MOVES,
    EntryState,
    OfferState,
    SeatOutcome,
    SeatState,
    check_entry,
    check_offer,
    check_seat,
    check_seat_outcome,
)

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
OFFER_LEGAL = {("requesting", "pending"), ("requesting", "failed"), ("pending", "accepted"), ("pending", "expired")}
SEAT_LEGAL = {("deferred", "offering"), ("deferred", "done"), ("offering", "returning"), ("offering", "done"),
              ("returning", "done")}
ENTRY_LEGAL = {("waiting", "offered"), ("waiting", "cancelled"), ("waiting", "expired"), ("waiting", "booked"),
               ("offered", "booked"), ("offered", "expired"), ("expired", "booked")}


def test_the_states_are_the_words_the_database_stores():
    assert [state.value for state in OfferState] == ["requesting", "pending", "accepted", "expired", "failed"]
    assert [state.value for state in SeatState] == ["deferred", "offering", "returning", "done"]
    assert [outcome.value for outcome in SeatOutcome] == ["claimed", "returned", "merged"]
    assert [state.value for state in EntryState] == ["waiting", "offered", "booked", "expired", "cancelled"]


@pytest.mark.parametrize(("current", "target"), list(itertools.product(OfferState, OfferState)))
def test_an_offer_moves_only_as_its_machine_allows(current: OfferState, target: OfferState):
    if (current.value, target.value) in OFFER_LEGAL:
        assert check_offer(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            check_offer(current, target)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(SeatState, SeatState)))
def test_a_seat_moves_only_as_its_machine_allows(current: SeatState, target: SeatState):
    if (current.value, target.value) in SEAT_LEGAL:
        assert check_seat(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            check_seat(current, target)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(EntryState, EntryState)))
def test_an_entry_moves_only_as_its_machine_allows(current: EntryState, target: EntryState):
    if (current.value, target.value) in ENTRY_LEGAL:
        assert check_entry((current,), target) is target
    else:
        with pytest.raises(IllegalTransition):
            check_entry((current,), target)


def test_a_seat_ends_claimed_or_returned_only_from_offering_and_merged_only_from_deferred():
    check_seat_outcome(SeatState.OFFERING, SeatState.DONE, SeatOutcome.CLAIMED)
    check_seat_outcome(SeatState.OFFERING, SeatState.RETURNING, SeatOutcome.RETURNED)
    check_seat_outcome(SeatState.DEFERRED, SeatState.DONE, SeatOutcome.MERGED)
    check_seat_outcome(SeatState.DEFERRED, SeatState.OFFERING, None)
    for current, outcome in [(SeatState.DEFERRED, SeatOutcome.CLAIMED), (SeatState.OFFERING, SeatOutcome.MERGED)]:
        with pytest.raises(IllegalTransition):
            check_seat_outcome(current, SeatState.DONE, outcome)


def test_the_tables_are_exactly_the_legal_moves():
    def pairs(moves: dict) -> set[tuple[str, str]]:
        return {(current.value, target.value) for current, targets in moves.items() for target in targets}

    assert pairs(dict(OFFER_MOVES)) == OFFER_LEGAL
    assert pairs(dict(SEAT_MOVES)) == SEAT_LEGAL
    assert pairs(dict(ENTRY_MOVES)) == ENTRY_LEGAL


def test_a_compare_and_set_from_several_states_is_refused_if_any_of_them_may_not_move():
    check_entry(*ENTRY_BOOKED_LATE)
    with pytest.raises(IllegalTransition):
        check_entry((EntryState.WAITING, EntryState.CANCELLED), EntryState.BOOKED)


def test_the_entry_follows_its_offer_and_booking_s_late_word_wins():
    assert ENTRY_FOLLOWS_OFFER[OfferState.PENDING] == ((EntryState.WAITING,), EntryState.OFFERED)
    assert ENTRY_FOLLOWS_OFFER[OfferState.ACCEPTED] == ((EntryState.OFFERED,), EntryState.BOOKED)
    assert ENTRY_FOLLOWS_OFFER[OfferState.EXPIRED] == ((EntryState.OFFERED,), EntryState.EXPIRED)
    assert ENTRY_BOOKED_LATE == ((EntryState.WAITING, EntryState.OFFERED, EntryState.EXPIRED), EntryState.BOOKED)


# --- the offer's moves ------------------------------------------------------------------------------------------


def _offer(state: OfferState = OfferState.REQUESTING, attempt: int = 1, **fields: object) -> Offer:
    candidate = Candidate(uuid.uuid4(), uuid.uuid4(), "ana@example.com", "Ana")
    offer = Offer.request(uuid.uuid4(), uuid.uuid4(), candidate, 300, NOW)
    return Offer(**(vars(offer) | {"state": state, "attempt": attempt} | fields))  # type: ignore[arg-type]


def test_a_decision_is_a_requesting_offer_of_the_candidate_after_its_predecessor():
    candidate = Candidate(uuid.uuid4(), uuid.uuid4(), "ana@example.com", "Ana")
    before = _offer(OfferState.PENDING)
    offer = Offer.request(before.seat_id, before.slot_id, candidate, 300, NOW, before)
    assert (offer.state, offer.attempt, offer.entry_id, offer.client_id) == (
        OfferState.REQUESTING, 1, candidate.entry_id, candidate.client_id)
    assert (offer.predecessor_id, offer.ttl_seconds, offer.client_name) == (before.id, 300, "Ana")
    assert offer.live


def test_booking_s_answers_move_a_request_by_compare_and_set_on_its_attempt():
    offer, appointment, deadline = _offer(attempt=2), uuid.uuid4(), NOW + timedelta(minutes=5)
    assert offer.made(appointment, deadline) == OfferMove(
        offer.id, OfferState.REQUESTING, OfferState.PENDING, 2, appointment, deadline)
    assert offer.refused("slot_in_past") == OfferMove(
        offer.id, OfferState.REQUESTING, OfferState.FAILED, 2, failure="slot_in_past")
    assert offer.lapsed(appointment, deadline) == OfferMove(
        offer.id, OfferState.REQUESTING, OfferState.FAILED, 2, appointment, deadline, "lapsed_before_offer")


def test_a_pending_offer_is_accepted_or_expired_without_an_attempt():
    offer = _offer(OfferState.PENDING, attempt=3)
    assert offer.accepted() == OfferMove(offer.id, OfferState.PENDING, OfferState.ACCEPTED)
    assert offer.expired("appointment.expired") == OfferMove(
        offer.id, OfferState.PENDING, OfferState.EXPIRED, failure="appointment.expired")


@pytest.mark.parametrize("state", list(OfferState))
def test_each_move_of_an_offer_is_refused_from_a_state_that_does_not_lead_there(state: OfferState):
    offer = _offer(state)
    moves = {
        OfferState.PENDING: lambda: offer.made(uuid.uuid4(), NOW),
        OfferState.FAILED: lambda: offer.refused("gone"),
        OfferState.ACCEPTED: offer.accepted,
        OfferState.EXPIRED: lambda: offer.expired("why"),
    }
    for target, move in moves.items():
        if (state.value, target.value) in OFFER_LEGAL:
            assert move().target is target
        else:
            with pytest.raises(IllegalTransition):
                move()


def test_each_attempt_has_its_own_key_and_the_same_attempt_the_same_key():
    offer = uuid.uuid4()
    assert idempotency_key(offer, 1) == idempotency_key(offer, 1)
    assert idempotency_key(offer, 1) != idempotency_key(offer, 2)
    assert idempotency_key(offer, 1) != idempotency_key(uuid.uuid4(), 1)
    assert len(idempotency_key(offer, 99)) <= 255  # booking's limit


# --- the seat's moves and the walk's next step ------------------------------------------------------------------


def _release(released_by: str = "client") -> Release:
    return Release(uuid.uuid4(), NOW, uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), NOW + timedelta(days=1),
                   NOW + timedelta(days=1, hours=1), released_by, uuid.uuid4())


def _seat(state: SeatState = SeatState.OFFERING) -> Seat:
    return _release().seat(state)


def test_a_release_frees_a_seat_named_by_its_event():
    release = _release("provider")
    seat = release.seat(SeatState.RETURNING, SeatOutcome.RETURNED)
    assert (seat.id, seat.slot_id, seat.released_at, seat.released_appointment_id) == (
        release.event_id, release.slot_id, release.occurred_at, release.appointment_id)
    assert seat.free() == release.free_seat() == FreeSeat(
        release.slot_id, release.service_id, release.provider_id, release.starts_at)
    assert release.reserved_for_waitlist
    assert not release.by_waitlist
    assert _release("waitlist").by_waitlist
    assert not _release("client").reserved_for_waitlist


def test_a_seat_s_moves():
    deferred, offering = _seat(SeatState.DEFERRED), _seat()
    assert deferred.start_offering().target is SeatState.OFFERING
    assert deferred.merge().target is SeatState.DONE
    assert deferred.merge().outcome is SeatOutcome.MERGED
    assert offering.close(SeatOutcome.CLAIMED, others_open=False).target is SeatState.RETURNING
    assert offering.close(SeatOutcome.CLAIMED, others_open=True).target is SeatState.DONE
    assert offering.close(SeatOutcome.RETURNED, others_open=True).outcome is SeatOutcome.RETURNED


@pytest.mark.parametrize("state", [SeatState.OFFERING, SeatState.RETURNING, SeatState.DONE])
def test_only_a_deferred_seat_starts_offering_or_merges(state: SeatState):
    with pytest.raises(IllegalTransition):
        _seat(state).start_offering()
    with pytest.raises(IllegalTransition):
        _seat(state).merge()


@pytest.mark.parametrize("state", [SeatState.DEFERRED, SeatState.RETURNING, SeatState.DONE])
def test_only_an_offering_seat_closes(state: SeatState):
    for others_open in (False, True):
        with pytest.raises(IllegalTransition):
            _seat(state).close(SeatOutcome.RETURNED, others_open)


@pytest.mark.parametrize(("seat_state", "live", "has_candidate", "step"), [
    (SeatState.DEFERRED, [], True, Step.WAIT),
    (SeatState.RETURNING, [], True, Step.WAIT),
    (SeatState.DONE, [], True, Step.WAIT),
    (SeatState.OFFERING, [(OfferState.REQUESTING, False)], True, Step.WAIT),
    (SeatState.OFFERING, [(OfferState.PENDING, False)], True, Step.WAIT),
    (SeatState.OFFERING, [(OfferState.PENDING, True)], True, Step.OFFER),
    (SeatState.OFFERING, [(OfferState.PENDING, True)], False, Step.WAIT),
    (SeatState.OFFERING, [(OfferState.PENDING, True), (OfferState.REQUESTING, False)], True, Step.WAIT),
    (SeatState.OFFERING, [], True, Step.OFFER),
    (SeatState.OFFERING, [], False, Step.CLOSE),
])
def test_the_seat_waits_offers_or_closes(
    seat_state: SeatState, live: list[tuple[OfferState, bool]], has_candidate: bool, step: Step
):
    offers = [_offer(state, overdue=overdue) for state, overdue in live]
    assert next_step(_seat(seat_state), offers, has_candidate) is step
