"""Reacting to booking: its events about seats and holds, and its answers to our hold requests.

Each function runs in the caller's unit of work: it first takes the slot's lock, moves rows only by compare-and-set,
records its events, and asks for the calls to booking to run once the transaction commits (`uow.follow_up`). A
follow-up lost to a crash is found again by the sweeper: the rows say what is still to be done.

Booking is the arbiter of claim against expiry: its confirmation refuses a hold past `hold_expires_at` on the
database clock, under the appointment's row lock. The waitlist never contradicts it: a pending offer becomes
`expired` only when booking said the hold ended (its event) or gave the same seat to the next client (which, for a
one-seat slot, proves the hold was expired first), and `accepted` only on booking's confirmation.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from smartslot_common.contracts.events import WAITLIST_OFFER_MADE
from smartslot_common.logging import get_logger
from waitlist import metrics
from waitlist.domain.commands import ReturnSlot
from waitlist.domain.offers import NEXT_OFFER_MADE, EarlyOutcome, Offer
from waitlist.domain.seats import Release
from waitlist.domain.states import ENTRY_BOOKED_LATE, ENTRY_FOLLOWS_OFFER, OfferState, SeatOutcome, SeatState
from waitlist.service_layer import walk
from waitlist.service_layer.events import offer_event
from waitlist.service_layer.policy import Policy
from waitlist.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)


async def seat_released(uow: UnitOfWork, policy: Policy, release: Release) -> None:
    """A seat came free: the tail of one of our holds moves its offer on; any other release starts a new seat."""
    if release.by_waitlist:
        return
    await uow.seats.lock_slot(release.slot_id)
    if release.appointment_id is not None:
        known = await uow.offers.by_appointment(release.appointment_id)
        if known is not None and known.state is not OfferState.ACCEPTED:
            await walk.offer_over(uow, policy, known, "released")
            return
    # A hold request in flight on this slot may be what this release is the tail of: decide once it is settled.
    deferred = await uow.offers.requesting_on_slot(release.slot_id)
    if not deferred and await uow.offers.candidate(release.free_seat()) is None:
        await _nobody_waits(uow, policy, release)
        return
    seat = await uow.seats.add(release.seat(SeatState.DEFERRED if deferred else SeatState.OFFERING))
    if seat is not None and not deferred:
        await walk.advance(uow, policy, seat)


async def appointment_ended(
    uow: UnitOfWork, policy: Policy, appointment_id: uuid.UUID, slot_id: uuid.UUID, why: str
) -> None:
    """Booking expired or cancelled an appointment: if it was an open offer, it expired; the seat moves on."""
    await uow.seats.lock_slot(slot_id)
    known = await uow.offers.by_appointment(appointment_id)
    if known is None:  # a hold still being recorded: its offer applies this once it is
        await uow.offers.remember_early_outcome(appointment_id, EarlyOutcome.ENDED)
        return
    await walk.offer_over(uow, policy, known, why)


async def appointment_confirmed(
    uow: UnitOfWork, policy: Policy, appointment_id: uuid.UUID, slot_id: uuid.UUID
) -> None:
    """The client confirmed an offered hold: the offer is accepted, the entry booked, the seat claimed."""
    await uow.seats.lock_slot(slot_id)
    known = await uow.offers.by_appointment(appointment_id)
    if known is None:  # confirmed before the hold was recorded as an offer (a crash window)
        await uow.offers.remember_early_outcome(appointment_id, EarlyOutcome.CONFIRMED)
        return
    if known.state is OfferState.PENDING:
        await walk.accept(uow, policy, known)
    elif known.state in (OfferState.EXPIRED, OfferState.FAILED):  # booking's word wins (see the capacity note)
        log.warning("waitlist_hold_confirmed_after_offer_ended", offer_id=str(known.id))
        await uow.entries.move(known.entry_id, *ENTRY_BOOKED_LATE)


async def hold_granted(
    uow: UnitOfWork, policy: Policy, offer: Offer, appointment_id: uuid.UUID, deadline: datetime
) -> None:
    """Booking holds the seat for the client: the offer is made (and the previous one, whose seat this is, expired)."""
    await uow.seats.lock_slot(offer.slot_id)
    current = await _still_requested(uow, offer)
    if current is None:
        return  # settled already (a recovery pass and the first sender both got the answer)
    await _expire_predecessor(uow, current)
    early = await uow.offers.early_outcome(appointment_id)
    if early is EarlyOutcome.ENDED or (early is None and await uow.offers.is_past(deadline)):
        # Recovered too late (or the hold ended meanwhile): the client was never told, so it was no offer.
        await uow.offers.apply(current.lapsed(appointment_id, deadline))
        await walk.advance(uow, policy, await uow.seats.get(current.seat_id))
        await walk.wake_deferred(uow, policy, current.slot_id)
        return
    made = await uow.offers.apply(current.made(appointment_id, deadline))
    assert made is not None  # `current` is locked and was checked above: the compare-and-set holds
    await uow.entries.move(current.entry_id, *ENTRY_FOLLOWS_OFFER[OfferState.PENDING])
    if early is EarlyOutcome.CONFIRMED:  # the client found and confirmed the hold before we recorded it
        await walk.accept(uow, policy, made)
    else:
        uow.record(offer_event(WAITLIST_OFFER_MADE, await uow.offers.payload(current.id)))
        await _count_offer_made(uow, made)
    await walk.wake_deferred(uow, policy, current.slot_id)


async def hold_refused(uow: UnitOfWork, policy: Policy, offer: Offer, code: str) -> None:
    """Booking will not hold the seat (taken, blocked, started): nobody was told; the seat is done unless an overdue
    offer before this one still awaits booking's ruling."""
    await uow.seats.lock_slot(offer.slot_id)
    current = await _still_requested(uow, offer)
    if current is None:
        return
    await uow.offers.apply(current.refused(code))
    metrics.HOLDS_REFUSED.labels(code).inc()
    predecessor = await _pending_predecessor(uow, current)
    if predecessor is not None:
        await uow.offers.recheck_later(predecessor.id, policy.recheck_seconds)
    else:
        await walk.close(uow, policy, await uow.seats.get(current.seat_id), SeatOutcome.RETURNED)
    await walk.wake_deferred(uow, policy, current.slot_id)


async def _still_requested(uow: UnitOfWork, offer: Offer) -> Offer | None:
    """The offer, locked, if it is still the request (same attempt) booking answered."""
    current = await uow.offers.get(offer.id)
    if current is None or current.state is not OfferState.REQUESTING or current.attempt != offer.attempt:
        return None
    return current


async def _count_offer_made(uow: UnitOfWork, made: Offer) -> None:
    metrics.OFFERS_MADE.inc()
    step = "first" if await uow.offers.made_for_seat(made.seat_id) == 1 else "next"
    assert made.offered_at is not None  # stamped by the move to pending
    waited = (made.offered_at - made.available_at).total_seconds()
    metrics.RELEASE_TO_OFFER.labels(step).observe(max(waited, 0.0))


async def _pending_predecessor(uow: UnitOfWork, offer: Offer) -> Offer | None:
    if offer.predecessor_id is None:
        return None
    predecessor = await uow.offers.get(offer.predecessor_id)
    return predecessor if predecessor is not None and predecessor.state is OfferState.PENDING else None


async def _expire_predecessor(uow: UnitOfWork, offer: Offer) -> None:
    """Booking gave the seat to this offer's client, so the overdue hold before it is over."""
    predecessor = await _pending_predecessor(uow, offer)
    if predecessor is not None:
        await walk.expire(uow, predecessor, NEXT_OFFER_MADE)


async def _nobody_waits(uow: UnitOfWork, policy: Policy, release: Release) -> None:
    """Nobody is in turn: a slot booking reserved for the waitlist goes back to the public now (durably)."""
    if not release.reserved_for_waitlist:
        return
    seat = await uow.seats.add(release.seat(SeatState.RETURNING, SeatOutcome.RETURNED), policy.lease_seconds)
    if seat is not None:
        uow.follow_up(ReturnSlot(seat.id, seat.slot_id))
