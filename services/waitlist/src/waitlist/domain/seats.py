"""A freed seat and its walk down the queue: one offer at a time, each open until booking rules on it, until a client
claims the seat or nobody is left and the slot goes back to the public.

The protocol (`next_step`): while a hold request is in flight, or an offer is open and within its deadline, wait; else
offer the seat to the next entry in turn; when nobody is left, hand the slot back. An overdue offer with nobody after
it waits for booking's ruling (its expiry event): closing now could race a confirmation booking is still committing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Final

from waitlist.domain.model import FreeSeat
from waitlist.domain.offers import Offer
from waitlist.domain.states import OfferState, SeatOutcome, SeatState, check_seat_outcome

RESERVING: Final = frozenset({"provider", "admin"})  # releases booking keeps out of the public pool for the waitlist
WAITLIST_RELEASE: Final = "waitlist"  # the waitlist itself handed the slot back


@dataclass(frozen=True)
class Release:
    """What `slot.released` said: one seat of a slot came free (`event_id` names it)."""

    event_id: uuid.UUID
    occurred_at: datetime
    slot_id: uuid.UUID
    service_id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    released_by: str
    appointment_id: uuid.UUID | None

    @property
    def by_waitlist(self) -> bool:
        return self.released_by == WAITLIST_RELEASE

    @property
    def reserved_for_waitlist(self) -> bool:
        """Booking keeps the slot out of the public pool until the waitlist hands it back."""
        return self.released_by in RESERVING

    def free_seat(self) -> FreeSeat:
        return FreeSeat(self.slot_id, self.service_id, self.provider_id, self.starts_at)

    def seat(self, state: SeatState, outcome: SeatOutcome | None = None) -> Seat:
        """The seat this release frees, recorded in `state`."""
        return Seat(
            self.event_id, self.slot_id, self.service_id, self.provider_id, self.starts_at, self.ends_at,
            self.released_by, self.occurred_at, state, outcome, self.appointment_id,
        )


@dataclass(frozen=True)
class SlotContext:
    """A slot's names and zone, as booking's appointment events told them (offer events carry them)."""

    timezone: str | None = None
    service_name: str | None = None
    provider_name: str | None = None
    clinic_name: str | None = None


@dataclass(frozen=True)
class SeatMove:
    """One move of a seat (its row is locked by whoever decides it)."""

    seat_id: uuid.UUID
    current: SeatState
    target: SeatState
    outcome: SeatOutcome | None = None


@dataclass(frozen=True)
class Seat:
    """One seat of a slot that came free, walked down the queue."""

    id: uuid.UUID
    slot_id: uuid.UUID
    service_id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    released_by: str
    released_at: datetime
    state: SeatState
    outcome: SeatOutcome | None = None
    released_appointment_id: uuid.UUID | None = None

    def free(self) -> FreeSeat:
        return FreeSeat(self.slot_id, self.service_id, self.provider_id, self.starts_at)

    def start_offering(self) -> SeatMove:
        """A deferred release turned out to be a new seat: it walks down the queue."""
        return self._move(SeatState.OFFERING)

    def merge(self) -> SeatMove:
        """A deferred release was the tail of one of our own holds: that offer's seat walks on instead."""
        return self._move(SeatState.DONE, SeatOutcome.MERGED)

    def close(self, outcome: SeatOutcome, others_open: bool) -> SeatMove:
        """The walk is over: the slot goes back to the public, unless another freed seat of it is still open."""
        return self._move(SeatState.DONE if others_open else SeatState.RETURNING, outcome)

    def _move(self, target: SeatState, outcome: SeatOutcome | None = None) -> SeatMove:
        return SeatMove(self.id, self.state, check_seat_outcome(self.state, target, outcome), outcome)


class Step(Enum):
    """What a seat does next."""

    WAIT = "wait"  # a request is in flight, or the current offer is still open
    OFFER = "offer"  # ask booking to hold it for the next entry
    CLOSE = "close"  # nobody (else) to offer it to: hand the slot back


def open_offer(live: Sequence[Offer]) -> Offer | None:
    """The seat's pending offer among its live ones (at most one)."""
    return next((offer for offer in live if offer.state is OfferState.PENDING), None)


def next_step(seat: Seat, live: Sequence[Offer], has_candidate: bool) -> Step:
    """The seat's next move, given its live offers and whether anyone is (still) in turn for it."""
    if seat.state is not SeatState.OFFERING or any(offer.state is OfferState.REQUESTING for offer in live):
        return Step.WAIT
    pending = open_offer(live)
    if pending is not None and not pending.overdue:
        return Step.WAIT
    if has_candidate:
        return Step.OFFER
    return Step.WAIT if pending is not None else Step.CLOSE
