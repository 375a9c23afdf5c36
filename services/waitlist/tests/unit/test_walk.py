"""The walk of a freed seat down the queue, through the service layer on fakes: offered to the next entry in turn for
the offer's TTL; accepted, it is claimed; expired, it goes to the next entry; nobody left, the slot goes back."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from smartslot_common.contracts.events import (
    WAITLIST_OFFER_ACCEPTED,
    WAITLIST_OFFER_EXPIRED,
    WAITLIST_OFFER_MADE,
)
from smartslot_common.uow import RetryTransaction
from waitlist.domain.offers import Offer, idempotency_key
from waitlist.domain.states import EntryState, OfferState, SeatOutcome, SeatState
from waitlist.service_layer import offering, sweeper, walk

from .fakes import FakeOfferRepository, World

MADE, EXPIRED, ACCEPTED = WAITLIST_OFFER_MADE, WAITLIST_OFFER_EXPIRED, WAITLIST_OFFER_ACCEPTED


async def test_a_freed_seat_is_offered_to_the_first_entry_in_turn_for_five_minutes():
    world = World()
    early = world.store.add_entry(world.wish())
    first = world.store.add_entry(world.wish(), priority=1)
    elsewhere = world.store.add_entry(world.wish(provider_id=uuid.uuid4()))
    release = world.release()

    await world.released(release)

    offer = world.only_offer(first.id)
    assert offer.state is OfferState.PENDING
    assert offer.deadline == world.store.now + timedelta(minutes=5)
    assert world.store.entry(first.id).state is EntryState.OFFERED
    assert [world.store.entry(entry.id).state for entry in (early, elsewhere)] == [EntryState.WAITING] * 2
    assert world.store.event_types() == [MADE]
    assert world.store.outbox[0].payload["offer_id"] == str(offer.id)
    ((request, key),) = world.booking.holds
    assert (request.slot_id, request.client_id, request.ttl_seconds) == (release.slot_id, first.client_id, 300)
    assert key == idempotency_key(offer.id, 1)
    assert world.store.seat(release.event_id).state is SeatState.OFFERING


async def test_accepted_the_offer_becomes_the_client_s_hold_and_the_seat_is_claimed():
    world = World()
    entry = world.store.add_entry(world.wish())
    release = world.release(released_by="provider")
    await world.released(release)

    await world.offer_confirmed(world.only_offer(entry.id))

    assert world.only_offer(entry.id).state is OfferState.ACCEPTED
    assert world.store.entry(entry.id).state is EntryState.BOOKED
    seat = world.store.seat(release.event_id)
    assert (seat.state, seat.outcome) == (SeatState.DONE, SeatOutcome.CLAIMED)
    assert world.booking.returned == [release.slot_id]  # the slot's reservation for the waitlist ends
    assert world.store.event_types() == [MADE, ACCEPTED]


async def test_expired_the_seat_goes_to_the_next_entry_from_the_moment_it_was_free_again():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    await world.released(world.release())
    world.store.tick(60)  # the first client declines after a minute

    await world.offer_ended(world.only_offer(first.id), "appointment.cancelled")

    lapsed, offered = world.only_offer(first.id), world.only_offer(second.id)
    assert (lapsed.state, lapsed.failure) == (OfferState.EXPIRED, "appointment.cancelled")
    assert world.store.entry(first.id).state is EntryState.EXPIRED
    assert offered.state is OfferState.PENDING
    assert offered.available_at == lapsed.decided_at == world.store.now
    assert world.store.entry(second.id).state is EntryState.OFFERED
    assert world.store.event_types() == [MADE, EXPIRED, MADE]


async def test_the_walk_cascades_until_nobody_is_left_and_the_slot_goes_back():
    world = World()
    entries = [world.store.add_entry(world.wish()) for _ in range(3)]
    release = world.release(released_by="admin")
    await world.released(release)

    for entry in entries:
        await world.offer_ended(world.only_offer(entry.id))

    assert [world.store.entry(entry.id).state for entry in entries] == [EntryState.EXPIRED] * 3
    seat = world.store.seat(release.event_id)
    assert (seat.state, seat.outcome) == (SeatState.DONE, SeatOutcome.RETURNED)
    assert world.booking.returned == [release.slot_id]
    assert world.store.event_types() == [MADE, EXPIRED, MADE, EXPIRED, MADE, EXPIRED]


async def test_a_client_s_release_nobody_waits_for_is_left_alone_a_reserved_one_goes_back_at_once():
    world = World()
    world.store.add_entry(world.wish(provider_id=uuid.uuid4()))  # waits for someone else
    public, reserved = world.release(), world.release(released_by="provider")

    await world.released(public)
    await world.released(reserved)

    assert public.event_id not in world.store.seats
    seat = world.store.seat(reserved.event_id)
    assert (seat.state, seat.outcome) == (SeatState.DONE, SeatOutcome.RETURNED)
    assert world.booking.returned == [reserved.slot_id]
    assert world.store.outbox == []


async def test_the_waitlist_s_own_hand_back_and_a_started_slot_start_nothing():
    world = World()
    entry = world.store.add_entry(world.wish())

    await world.released(world.release(released_by="waitlist"))
    await world.released(world.release(starts_in=timedelta(seconds=-1)))

    assert world.store.offers_of(entry.id) == []
    assert world.store.seats == {}


async def test_the_same_release_twice_is_one_seat_and_one_offer():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    release = world.release()

    await world.released(release)
    await world.released(release)

    assert len(world.store.seats) == 1
    assert len(world.store.offers_of(first.id)) == 1
    assert world.store.offers_of(second.id) == []


async def test_a_client_is_offered_a_slot_once_and_one_offer_at_a_time():
    world = World()
    client = uuid.uuid4()
    world.store.add_entry(world.wish(), client_id=client)
    world.store.add_entry(world.wish(provider_id=world.provider_id), client_id=client)
    other = world.store.add_entry(world.wish())
    slot = uuid.uuid4()
    await world.released(world.release(slot))
    await world.released(world.release(slot))  # a second seat of the same slot

    offers = [stored.offer for stored in world.store.offers.values()]
    assert sorted(offer.client_id == client for offer in offers) == [False, True]
    assert world.only_offer(other.id).state is OfferState.PENDING


async def test_with_two_seats_of_a_slot_open_the_first_one_claimed_leaves_the_slot_reserved():
    world = World()
    first, second = world.store.add_entry(world.wish()), world.store.add_entry(world.wish())
    slot = uuid.uuid4()
    one, two = world.release(slot, "provider"), world.release(slot, "provider")
    await world.released(one)
    await world.released(two)

    await world.offer_confirmed(world.only_offer(first.id))

    assert world.store.seat(one.event_id).state is SeatState.DONE
    assert world.booking.returned == []  # the other seat is still being offered
    await world.offer_confirmed(world.only_offer(second.id))
    assert world.booking.returned == [slot]


async def test_housekeeping_expires_entries_whose_window_ended():
    world = World()
    over = world.store.add_entry(world.wish(window_to=world.store.now + timedelta(minutes=1)))
    open_ended = world.store.add_entry(world.wish())
    world.store.tick(120)

    assert await sweeper.housekeeping(world.uow()) == 1
    assert world.store.entry(over.id).state is EntryState.EXPIRED
    assert world.store.entry(open_ended.id).state is EntryState.WAITING


class _ClaimsAlwaysLost(FakeOfferRepository):
    """Every entry picked is taken by a concurrent decision before this one can claim it."""

    async def add_request(self, offer: Offer, lease_seconds: float) -> Offer | None:
        return None


async def test_a_decision_that_loses_every_candidate_to_concurrent_ones_is_retried_then_given_up():
    world = World()
    for _ in range(walk.MAX_PICKS + 1):
        world.store.add_entry(world.wish())
    uow = world.uow()
    uow.offers = _ClaimsAlwaysLost(world.store)
    release = world.release()

    with pytest.raises(RetryTransaction):
        await uow.run(lambda uow: offering.seat_released(uow, world.policy, release))

    assert world.store.seats == {}  # every attempt rolled back
    assert world.store.commits == 0
