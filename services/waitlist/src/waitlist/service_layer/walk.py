"""A freed seat's walk down the queue: offer it to the next entry in turn, one offer at a time, each open for the
offer's TTL (5 minutes by default) while booking holds the seat for that client; accepted, the seat is claimed;
expired, it goes to the next entry; when nobody is left, the slot goes back to the public.

Every function runs in the caller's unit of work, which already holds the slot's lock. An offer leaves `pending`
only on booking's word (see `offering`); the protocol's next step is `domain.seats.next_step`.
"""

from __future__ import annotations

import uuid

from smartslot_common.contracts.events import WAITLIST_OFFER_ACCEPTED, WAITLIST_OFFER_EXPIRED
from smartslot_common.uow import RetryTransaction
from waitlist import metrics
from waitlist.domain.commands import ReturnSlot, SendHold
from waitlist.domain.offers import Offer
from waitlist.domain.seats import Seat, Step, next_step, open_offer
from waitlist.domain.states import ENTRY_FOLLOWS_OFFER, OfferState, SeatOutcome, SeatState
from waitlist.service_layer.events import offer_event
from waitlist.service_layer.policy import Policy
from waitlist.service_layer.unit_of_work import UnitOfWork

MAX_PICKS = 10  # entries lost to concurrent decisions before giving up this round (the transaction is retried)


async def advance(uow: UnitOfWork, policy: Policy, seat: Seat | None) -> None:
    """The seat's next move: wait, offer it to the next entry in turn, or hand the slot back when nobody is left."""
    if seat is None or seat.state is not SeatState.OFFERING:
        return
    live = await uow.offers.live_on_seat(seat.id)
    if next_step(seat, live, has_candidate=True) is not Step.OFFER:
        return
    made = await offer_to_next(uow, policy, seat, open_offer(live))
    step = next_step(seat, live, has_candidate=made is not None)
    if step is Step.OFFER:
        assert made is not None
        uow.follow_up(SendHold(made.id, made.slot_id))
    elif step is Step.CLOSE:
        await close(uow, policy, seat, SeatOutcome.RETURNED)
    # else an overdue offer with nobody after it: booking's ruling (its expiry event) moves it on


async def offer_to_next(uow: UnitOfWork, policy: Policy, seat: Seat, predecessor: Offer | None) -> Offer | None:
    """Write the decision "offer this seat to the next entry in turn" as a `requesting` offer; None when nobody is
    in turn. The seat was free since the open offer's deadline, the last offer's end, or its release."""
    if predecessor is not None and predecessor.deadline is not None:
        available_at = predecessor.deadline
    else:
        available_at = await uow.offers.last_ended(seat.id) or seat.released_at
    passed_over: list[uuid.UUID] = []
    for _ in range(MAX_PICKS):
        candidate = await uow.offers.candidate(seat.free(), passed_over)
        if candidate is None:
            return None
        decision = Offer.request(seat.id, seat.slot_id, candidate, policy.offer_ttl_seconds, available_at, predecessor)
        made = await uow.offers.add_request(decision, policy.lease_seconds)
        if made is not None:
            return made
        passed_over.append(candidate.entry_id)  # a concurrent decision took this entry
    raise RetryTransaction(f"lost {MAX_PICKS} candidates of slot {seat.slot_id} to concurrent offers")


async def close(uow: UnitOfWork, policy: Policy, seat: Seat | None, outcome: SeatOutcome) -> None:
    """The seat's walk is over: hand the slot back, unless another freed seat of it is still open."""
    if seat is None or seat.state is not SeatState.OFFERING:
        return
    move = seat.close(outcome, others_open=await uow.seats.others_open(seat.slot_id, seat.id))
    if move.target is SeatState.RETURNING:
        await uow.seats.apply(move, policy.lease_seconds)
        uow.follow_up(ReturnSlot(seat.id, seat.slot_id))
    else:
        await uow.seats.apply(move)


async def offer_over(uow: UnitOfWork, policy: Policy, offer: Offer, why: str) -> None:
    """An offer's hold ended without a confirmation: it expired, and its seat goes to the next entry."""
    if offer.state is not OfferState.PENDING:
        return  # already settled; the seat moved on then
    await expire(uow, offer, why)
    await advance(uow, policy, await uow.seats.get(offer.seat_id))


async def accept(uow: UnitOfWork, policy: Policy, offer: Offer) -> None:
    """The client confirmed the held appointment: the offer is accepted, the entry booked, the seat claimed."""
    await uow.offers.apply(offer.accepted())
    await uow.entries.move(offer.entry_id, *ENTRY_FOLLOWS_OFFER[OfferState.ACCEPTED])
    uow.record(offer_event(WAITLIST_OFFER_ACCEPTED, await uow.offers.payload(offer.id)))
    metrics.OFFERS_ACCEPTED.inc()
    await close(uow, policy, await uow.seats.get(offer.seat_id), SeatOutcome.CLAIMED)


async def expire(uow: UnitOfWork, offer: Offer, why: str) -> None:
    """Booking ruled the offer's hold over (`why`): the offer and its entry expire."""
    if await uow.offers.apply(offer.expired(why)) is None:
        return
    await uow.entries.move(offer.entry_id, *ENTRY_FOLLOWS_OFFER[OfferState.EXPIRED])
    uow.record(offer_event(WAITLIST_OFFER_EXPIRED, await uow.offers.payload(offer.id)))
    metrics.OFFERS_EXPIRED.inc()


async def wake_deferred(uow: UnitOfWork, policy: Policy, slot_id: uuid.UUID) -> None:
    """Settle the slot's deferred releases once no hold request is in flight on it."""
    if await uow.offers.requesting_on_slot(slot_id):
        return
    for seat in await uow.seats.deferred(slot_id, 100):
        await undefer(uow, policy, seat)


async def undefer(uow: UnitOfWork, policy: Policy, seat: Seat) -> None:
    """A deferred release is either the tail of one of our holds (merged into that offer's seat) or a new seat."""
    if await uow.offers.requesting_on_slot(seat.slot_id):
        return
    appointment_id = seat.released_appointment_id
    known = await uow.offers.by_appointment(appointment_id) if appointment_id else None
    if known is not None and known.state is not OfferState.ACCEPTED:
        await uow.seats.apply(seat.merge())
        await offer_over(uow, policy, known, "released")
        return
    await uow.seats.apply(seat.start_offering())
    await advance(uow, policy, await uow.seats.get(seat.id))


async def sweep_due(uow: UnitOfWork, policy: Policy, limit: int) -> None:
    """Offers past their deadline (database clock): offer each seat to the next entry without waiting for booking's
    expiry event. Rows or slots another process is working on are skipped this round."""
    for offer in await uow.offers.due(limit):
        if not await uow.seats.try_lock_slot(offer.slot_id):
            continue
        await uow.offers.recheck_later(offer.id, policy.recheck_seconds)
        await advance(uow, policy, await uow.seats.get(offer.seat_id))


async def sweep_deferred(uow: UnitOfWork, policy: Policy, limit: int) -> None:
    """Deferred releases whose slot has no request in flight any more (a crash may have left them)."""
    for seat in await uow.seats.deferred(None, limit):
        if await uow.seats.try_lock_slot(seat.slot_id):
            await undefer(uow, policy, seat)
