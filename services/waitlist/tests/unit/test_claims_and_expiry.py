"""Claim against expiry, booking's answers and the crash windows, through the service layer on fakes. Booking is the
arbiter: an offer is accepted only on its confirmation and expires only on its word (its event, or the next client's
hold on the freed seat); the waitlist never contradicts it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from smartslot_common.contracts.events import (
    WAITLIST_OFFER_ACCEPTED,
    WAITLIST_OFFER_EXPIRED,
    WAITLIST_OFFER_MADE,
)
from waitlist.adapters.booking import HoldAnswer, Verdict
from waitlist.domain.offers import EarlyOutcome, idempotency_key
from waitlist.domain.states import EntryState, OfferState, SeatOutcome, SeatState
from waitlist.service_layer.sweeper import SweepRun

from .fakes import World

MADE, EXPIRED, ACCEPTED = WAITLIST_OFFER_MADE, WAITLIST_OFFER_EXPIRED, WAITLIST_OFFER_ACCEPTED
LATER = HoldAnswer(Verdict.LATER, "TimeoutError")


def held(world: World, appointment_id: uuid.UUID | None = None, seconds: float = 300) -> HoldAnswer:
    return HoldAnswer(Verdict.HELD, None, appointment_id or uuid.uuid4(), world.store.now + timedelta(seconds=seconds))


async def test_an_overdue_offer_is_followed_by_the_next_hold_which_is_booking_s_ruling_on_it():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    await world.released(world.release())
    world.store.tick(301)

    run = await world.sweep()

    assert run.due == 1
    lapsed = world.only_offer(first.id)
    assert (lapsed.state, lapsed.failure) == (OfferState.EXPIRED, "next_offer_made")
    assert world.only_offer(second.id).state is OfferState.PENDING
    assert world.only_offer(second.id).available_at == lapsed.deadline
    assert world.store.event_types() == [MADE, EXPIRED, MADE]


async def test_an_overdue_offer_with_nobody_after_it_waits_for_booking_s_word_then_the_slot_goes_back():
    world = World()
    entry = world.store.add_entry(world.wish())
    release = world.release(released_by="provider")
    await world.released(release)
    world.store.tick(301)

    await world.sweep()

    assert world.only_offer(entry.id).state is OfferState.PENDING  # booking may still be committing a confirmation
    assert world.store.seat(release.event_id).state is SeatState.OFFERING
    assert world.booking.returned == []
    assert await world.sweep() == SweepRun(0, 0, 0, 0)  # not looked at again before the recheck time

    await world.offer_ended(world.only_offer(entry.id))

    assert world.only_offer(entry.id).state is OfferState.EXPIRED
    assert world.store.seat(release.event_id).outcome is SeatOutcome.RETURNED
    assert world.booking.returned == [release.slot_id]


async def test_a_confirmation_booking_accepted_past_the_deadline_is_accepted():
    world = World()
    entry = world.store.add_entry(world.wish())
    await world.released(world.release())
    world.store.tick(301)  # overdue here, but booking confirmed under its row lock in time

    await world.offer_confirmed(world.only_offer(entry.id))

    assert world.only_offer(entry.id).state is OfferState.ACCEPTED
    assert world.store.entry(entry.id).state is EntryState.BOOKED


async def test_a_confirmation_after_the_offer_expired_still_books_the_entry_booking_s_word_wins():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    await world.released(world.release())
    world.store.tick(301)
    await world.sweep()
    lapsed = world.only_offer(first.id)

    await world.offer_confirmed(lapsed)

    assert world.only_offer(first.id).state is OfferState.EXPIRED
    assert world.store.entry(first.id).state is EntryState.BOOKED
    assert world.store.entry(second.id).state is EntryState.OFFERED
    assert world.store.event_types() == [MADE, EXPIRED, MADE]  # no acceptance is announced


async def test_the_expiry_event_of_an_offer_already_settled_changes_nothing():
    world = World()
    entry = world.store.add_entry(world.wish())
    await world.released(world.release())
    await world.offer_confirmed(world.only_offer(entry.id))
    outbox = list(world.store.outbox)

    await world.offer_ended(world.only_offer(entry.id))
    await world.offer_confirmed(world.only_offer(entry.id))

    assert world.only_offer(entry.id).state is OfferState.ACCEPTED
    assert world.store.outbox == outbox


async def test_the_client_releasing_the_offered_hold_passes_the_seat_on():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    release = world.release()
    await world.released(release)
    offer = world.only_offer(first.id)

    await world.released(world.release(release.slot_id, "client", offer.appointment_id))

    assert (world.only_offer(first.id).state, world.only_offer(first.id).failure) == (OfferState.EXPIRED, "released")
    assert world.only_offer(second.id).state is OfferState.PENDING
    assert len(world.store.seats) == 1  # the tail of our own hold is no new seat


async def test_a_refused_hold_reached_nobody_and_closes_the_seat():
    world = World()
    entry = world.store.add_entry(world.wish())
    release = world.release(released_by="admin")
    world.booking.answers = [HoldAnswer(Verdict.GONE, "slot_in_past")]

    await world.released(release)

    offer = world.only_offer(entry.id)
    assert (offer.state, offer.failure) == (OfferState.FAILED, "slot_in_past")
    assert world.store.entry(entry.id).state is EntryState.WAITING
    assert world.store.seat(release.event_id).outcome is SeatOutcome.RETURNED
    assert world.booking.returned == [release.slot_id]
    assert world.store.outbox == []


async def test_a_refused_hold_behind_an_overdue_offer_waits_for_booking_s_word_on_that_one():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    release = world.release()
    await world.released(release)
    world.store.tick(301)
    world.booking.answers = [HoldAnswer(Verdict.GONE, "slot_not_found")]

    await world.sweep()

    assert world.only_offer(first.id).state is OfferState.PENDING
    assert world.store.offers[world.only_offer(first.id).id].recheck_at == world.store.now + timedelta(seconds=2)
    assert world.only_offer(second.id).state is OfferState.FAILED
    assert world.store.seat(release.event_id).state is SeatState.OFFERING


async def test_a_busy_slot_is_asked_again_with_a_new_key_a_few_times():
    world = World()
    entry = world.store.add_entry(world.wish())
    busy = HoldAnswer(Verdict.BUSY, "slot_held")
    world.booking.answers = [busy, busy, held(world)]

    await world.released(world.release())

    offer = world.only_offer(entry.id)
    assert (offer.state, offer.attempt) == (OfferState.PENDING, 3)
    assert [key for _, key in world.booking.holds] == [idempotency_key(offer.id, attempt) for attempt in (1, 2, 3)]


async def test_a_slot_busy_beyond_the_retries_is_refused():
    world = World()
    entry = world.store.add_entry(world.wish())
    world.booking.answers = [HoldAnswer(Verdict.BUSY, "slot_unavailable")] * 4

    await world.released(world.release())

    offer = world.only_offer(entry.id)
    assert (offer.state, offer.attempt, offer.failure) == (OfferState.FAILED, 4, "slot_unavailable")


async def test_an_unanswered_request_is_re_sent_with_the_same_key_once_its_lease_ran_out():
    world = World()
    entry = world.store.add_entry(world.wish())
    world.booking.answers = [LATER]
    await world.released(world.release())
    assert world.only_offer(entry.id).state is OfferState.REQUESTING
    assert (await world.sweep()).recovered_requests == 0  # the sender still owns it

    world.store.tick(16)
    run = await world.sweep()

    assert run.recovered_requests == 1
    offer = world.only_offer(entry.id)
    assert offer.state is OfferState.PENDING
    assert [key for _, key in world.booking.holds] == [idempotency_key(offer.id, 1)] * 2


async def test_a_hold_recovered_after_its_deadline_was_no_offer_so_the_entry_keeps_its_turn():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    world.booking.answers = [LATER, held(world, seconds=10)]  # booking's replay: the hold it made back then
    await world.released(world.release())
    world.store.tick(16)

    await world.sweep()

    lapsed, again = sorted(world.store.offers_of(first.id), key=lambda offer: offer.state is OfferState.PENDING)
    assert (lapsed.state, lapsed.failure) == (OfferState.FAILED, "lapsed_before_offer")
    assert again.state is OfferState.PENDING  # the client was never told: asked again, first in turn
    assert world.store.offers_of(second.id) == []
    assert world.store.event_types() == [MADE]


async def test_a_confirmation_that_came_before_the_hold_was_recorded_accepts_the_offer_when_it_is():
    world = World()
    entry = world.store.add_entry(world.wish())
    appointment = uuid.uuid4()
    world.booking.answers = [LATER, held(world, appointment)]
    release = world.release(released_by="provider")
    await world.released(release)
    await world.confirmed(appointment, release.slot_id)
    assert world.store.early == {appointment: EarlyOutcome.CONFIRMED}
    world.store.tick(16)

    await world.sweep()

    offer = world.only_offer(entry.id)
    assert (offer.state, offer.appointment_id) == (OfferState.ACCEPTED, appointment)
    assert world.store.entry(entry.id).state is EntryState.BOOKED
    assert world.store.event_types() == [ACCEPTED]  # never announced as an offer: the client already booked it
    assert world.booking.returned == [release.slot_id]


async def test_an_end_that_came_before_the_hold_was_recorded_makes_it_no_offer():
    world = World()
    entry = world.store.add_entry(world.wish())
    appointment = uuid.uuid4()
    world.booking.answers = [LATER, held(world, appointment)]
    release = world.release()
    await world.released(release)
    await world.ended(appointment, release.slot_id)
    world.store.tick(16)

    await world.sweep()

    states = sorted((offer.state, offer.failure or "") for offer in world.store.offers_of(entry.id))
    assert states == [(OfferState.FAILED, "lapsed_before_offer"), (OfferState.PENDING, "")]


async def test_a_release_while_a_request_is_in_flight_waits_and_then_is_a_new_seat():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    world.booking.answers = [LATER]
    slot = uuid.uuid4()
    await world.released(world.release(slot))
    other = world.release(slot)  # another seat of the slot, freed by someone else

    await world.released(other)
    assert world.store.seat(other.event_id).state is SeatState.DEFERRED
    world.store.tick(16)
    run = await world.sweep()

    assert run.recovered_requests == 1
    assert world.store.seat(other.event_id).state is SeatState.OFFERING
    assert world.only_offer(first.id).state is OfferState.PENDING
    assert world.only_offer(second.id).state is OfferState.PENDING


async def test_a_deferred_release_that_was_our_own_hold_s_tail_merges_into_that_offer_s_seat():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    appointment = uuid.uuid4()
    world.booking.answers = [LATER, held(world, appointment)]
    release = world.release()
    await world.released(release)
    tail = world.release(release.slot_id, "client", appointment)  # the client cancelled the hold at once

    await world.released(tail)
    world.store.tick(16)
    await world.sweep()

    merged = world.store.seat(tail.event_id)
    assert (merged.state, merged.outcome) == (SeatState.DONE, SeatOutcome.MERGED)
    assert (world.only_offer(first.id).state, world.only_offer(first.id).failure) == (OfferState.EXPIRED, "released")
    assert world.only_offer(second.id).state is OfferState.PENDING
    assert world.only_offer(second.id).seat_id == release.event_id


async def test_a_hand_back_booking_did_not_answer_is_sent_again_once_its_lease_ran_out():
    world = World()
    release = world.release(released_by="provider")
    world.booking.return_answer = None
    await world.released(release)
    assert world.store.seat(release.event_id).state is SeatState.RETURNING

    world.booking.return_answer = True
    world.store.tick(16)
    run = await world.sweep()

    assert run.recovered_returns == 1
    assert world.booking.returned == [release.slot_id] * 2
    assert world.store.seat(release.event_id).state is SeatState.DONE


async def test_a_slot_another_process_is_deciding_on_is_skipped_by_the_sweeper():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    release = world.release()
    await world.released(release)
    world.store.tick(301)
    world.store.busy_slots.add(release.slot_id)

    await world.sweep()

    assert world.store.offers_of(second.id) == []
    world.store.busy_slots.clear()
    await world.sweep()
    assert world.only_offer(second.id).state is OfferState.PENDING
    assert world.only_offer(first.id).state is OfferState.EXPIRED


