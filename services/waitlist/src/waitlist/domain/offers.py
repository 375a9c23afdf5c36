"""An offer: the waitlist's proposal of a freed seat to one waiting client, for as long as booking holds it for them.

The decision "offer this seat to this entry" is written `requesting` before booking is asked to hold the slot, so a
crash at any point leaves a row a recovery pass can finish with the same Idempotency-Key. Booking's answer moves it
once (`pending` or `failed`); a pending offer leaves `pending` once (`accepted` or `expired`), and only on booking's
word. Every move here is checked against `states.OFFER_MOVES` and is written as a compare-and-set.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from waitlist.domain.states import LIVE_OFFER, OfferState, check_offer

LAPSED_BEFORE_OFFER: Final = "lapsed_before_offer"  # booking held the seat, but the hold ended before we recorded it
NEXT_OFFER_MADE: Final = "next_offer_made"  # booking gave the seat to the next client: the hold before it is over


class EarlyOutcome(StrEnum):
    """Booking's word on a waitlist hold that came before the hold was recorded as an offer (a crash window)."""

    CONFIRMED = "confirmed"
    ENDED = "ended"


def idempotency_key(offer_id: uuid.UUID, attempt: int) -> str:
    """Booking's Idempotency-Key for one attempt of one offer: the same decision re-sent replays the same hold."""
    return f"waitlist-offer:{offer_id}:{attempt}"


@dataclass(frozen=True)
class Candidate:
    """The waiting entry a seat is offered to next, and how booking should name its client."""

    entry_id: uuid.UUID
    client_id: uuid.UUID
    client_email: str | None = None
    client_name: str | None = None


@dataclass(frozen=True)
class OfferMove:
    """One move of an offer, written as a compare-and-set on its state (and attempt, for a request in flight)."""

    offer_id: uuid.UUID
    current: OfferState
    target: OfferState
    attempt: int | None = None
    appointment_id: uuid.UUID | None = None
    deadline: datetime | None = None
    failure: str | None = None


@dataclass(frozen=True)
class Offer:
    """One offer of one freed seat to one entry. `overdue`: pending and past its deadline on the database clock when
    it was read."""

    id: uuid.UUID
    seat_id: uuid.UUID
    slot_id: uuid.UUID
    entry_id: uuid.UUID
    client_id: uuid.UUID
    state: OfferState
    ttl_seconds: int
    available_at: datetime
    attempt: int = 1
    client_email: str | None = None
    client_name: str | None = None
    appointment_id: uuid.UUID | None = None
    deadline: datetime | None = None
    predecessor_id: uuid.UUID | None = None
    offered_at: datetime | None = None
    decided_at: datetime | None = None
    failure: str | None = None
    overdue: bool = False

    @classmethod
    def request(
        cls, seat_id: uuid.UUID, slot_id: uuid.UUID, candidate: Candidate, ttl_seconds: int, available_at: datetime,
        predecessor: Offer | None = None,
    ) -> Offer:
        """The decision to offer the seat to `candidate`, before booking is asked to hold it."""
        return cls(
            uuid.uuid4(), seat_id, slot_id, candidate.entry_id, candidate.client_id, OfferState.REQUESTING,
            ttl_seconds, available_at, client_email=candidate.client_email, client_name=candidate.client_name,
            predecessor_id=predecessor.id if predecessor is not None else None,
        )

    @property
    def live(self) -> bool:
        return self.state in LIVE_OFFER

    def made(self, appointment_id: uuid.UUID, deadline: datetime) -> OfferMove:
        """Booking holds the seat for the client until `deadline`: the offer is open."""
        return self._move(OfferState.PENDING, appointment_id=appointment_id, deadline=deadline)

    def lapsed(self, appointment_id: uuid.UUID, deadline: datetime) -> OfferMove:
        """Booking's hold ended before the client was told: no offer was made."""
        return self._move(OfferState.FAILED, appointment_id=appointment_id, deadline=deadline,
                          failure=LAPSED_BEFORE_OFFER)

    def refused(self, code: str) -> OfferMove:
        """Booking will not hold the seat (`code` is its reason): nobody was told."""
        return self._move(OfferState.FAILED, failure=code)

    def accepted(self) -> OfferMove:
        """The client confirmed the held appointment."""
        return self._move(OfferState.ACCEPTED)

    def expired(self, why: str) -> OfferMove:
        """Booking ruled that the hold ended (`why`: its event, or the next client's hold)."""
        return self._move(OfferState.EXPIRED, failure=why)

    def _move(
        self, target: OfferState, appointment_id: uuid.UUID | None = None, deadline: datetime | None = None,
        failure: str | None = None,
    ) -> OfferMove:
        check_offer(self.state, target)
        attempt = self.attempt if self.state is OfferState.REQUESTING else None
        return OfferMove(self.id, self.state, target, attempt, appointment_id, deadline, failure)
