"""The offer's lifecycle (a small state machine) and the seat it belongs to.

An offer starts as `requesting`: the decision "offer this seat to this entry" is written before booking is asked to
hold the slot, so a crash at any point leaves a row a recovery pass can finish with the same Idempotency-Key.
Booking's answer moves it once: `pending` (the client holds the seat until `deadline`) or `failed` (booking refused;
nobody was told). A pending offer leaves `pending` exactly once: `accepted` when the client confirmed, `expired` when
booking ruled that the hold ended (its event, or the next client's hold succeeding on the freed seat).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Final

from waitlist.domain import model
from waitlist.domain.errors import IllegalTransition

REQUESTING: Final = "requesting"
PENDING: Final = "pending"
ACCEPTED: Final = "accepted"
EXPIRED: Final = "expired"
FAILED: Final = "failed"
LIVE: Final = (REQUESTING, PENDING)

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    REQUESTING: frozenset({PENDING, FAILED}),
    PENDING: frozenset({ACCEPTED, EXPIRED}),
    ACCEPTED: frozenset(),
    EXPIRED: frozenset(),
    FAILED: frozenset(),
}

# The entry's status that follows its offer's, and the statuses it may come from.
ENTRY_FOLLOWS: Final[dict[str, tuple[tuple[str, ...], str]]] = {
    PENDING: ((model.WAITING,), model.OFFERED),
    ACCEPTED: ((model.OFFERED,), model.BOOKED),
    EXPIRED: ((model.OFFERED,), model.EXPIRED),
}

# Seats: `deferred` waits for a hold request in flight on the same slot (the release may be that request's own
# tail); `offering` walks down the queue; `returning` hands the slot back to the public; `done`.
SEAT_DEFERRED: Final = "deferred"
SEAT_OFFERING: Final = "offering"
SEAT_RETURNING: Final = "returning"
SEAT_DONE: Final = "done"
CLAIMED, RETURNED, MERGED = "claimed", "returned", "merged"


def check_transition(current: str, target: str) -> None:
    """Raise `IllegalTransition` unless an offer in `current` may become `target`."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"an offer cannot go from {current} to {target}")


def idempotency_key(offer_id: uuid.UUID, attempt: int) -> str:
    """Booking's Idempotency-Key for one attempt of one offer: the same decision re-sent replays the same hold."""
    return f"waitlist-offer:{offer_id}:{attempt}"


class Step(Enum):
    """What a seat does next."""

    WAIT = "wait"  # a request is in flight, or the current offer is still open
    OFFER = "offer"  # ask booking to hold it for the next entry
    CLOSE = "close"  # nobody (else) to offer it to: hand the slot back


@dataclass(frozen=True)
class SeatState:
    """What `next_step` needs to know about a seat."""

    open: bool
    request_in_flight: bool = False
    pending: bool = False
    pending_overdue: bool = False
    has_candidate: bool = False


def next_step(seat: SeatState) -> Step:
    """The seat's next move.

    An overdue pending offer with nobody after it waits for booking's ruling (its expiry event): closing now could
    race a confirmation booking is still committing.
    """
    if not seat.open or seat.request_in_flight:
        return Step.WAIT
    if seat.pending and not seat.pending_overdue:
        return Step.WAIT
    if seat.has_candidate:
        return Step.OFFER
    return Step.WAIT if seat.pending else Step.CLOSE
