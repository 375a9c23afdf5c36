"""The waitlist's three state machines: an offer, a freed seat and an entry.

Each state is an enum whose value is the word the database stores; each machine is a table of the moves it allows,
and `check` refuses any other move with `IllegalTransition`.

- **Offer**: written `requesting` before booking is asked to hold the seat; booking's answer moves it once, to
  `pending` (the client holds the seat until the deadline) or `failed` (nobody was told). `pending` is left exactly
  once: `accepted` when the client confirmed, `expired` when booking ruled that the hold ended.
- **Seat**: `deferred` while a hold request in flight on the same slot may be what freed it; `offering` while it walks
  down the queue; `returning` while the slot is handed back to the public; `done`, with an outcome.
- **Entry**: `waiting` in the queue; `offered` while its offer is open; then `booked`, `expired` or `cancelled`.
  Booking's word wins: a hold confirmed after its offer ended still books the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, TypeVar

from waitlist.domain.errors import IllegalTransition

State = TypeVar("State", bound=StrEnum)


class OfferState(StrEnum):
    REQUESTING = "requesting"
    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    FAILED = "failed"


class SeatState(StrEnum):
    DEFERRED = "deferred"
    OFFERING = "offering"
    RETURNING = "returning"
    DONE = "done"


class SeatOutcome(StrEnum):
    """How a seat's walk ended: a client took it, the slot went back to the public, or it joined an offer's seat."""

    CLAIMED = "claimed"
    RETURNED = "returned"
    MERGED = "merged"


class EntryState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


OFFER_MOVES: Final[Mapping[OfferState, frozenset[OfferState]]] = {
    OfferState.REQUESTING: frozenset({OfferState.PENDING, OfferState.FAILED}),
    OfferState.PENDING: frozenset({OfferState.ACCEPTED, OfferState.EXPIRED}),
    OfferState.ACCEPTED: frozenset(),
    OfferState.EXPIRED: frozenset(),
    OfferState.FAILED: frozenset(),
}
LIVE_OFFER: Final = frozenset({OfferState.REQUESTING, OfferState.PENDING})

SEAT_MOVES: Final[Mapping[SeatState, frozenset[SeatState]]] = {
    SeatState.DEFERRED: frozenset({SeatState.OFFERING, SeatState.DONE}),
    SeatState.OFFERING: frozenset({SeatState.RETURNING, SeatState.DONE}),
    SeatState.RETURNING: frozenset({SeatState.DONE}),
    SeatState.DONE: frozenset(),
}
# How a walk ends, and the state a seat must be in to end it that way (a merge settles a deferred release).
SEAT_OUTCOME_FROM: Final[Mapping[SeatOutcome, SeatState]] = {
    SeatOutcome.CLAIMED: SeatState.OFFERING,
    SeatOutcome.RETURNED: SeatState.OFFERING,
    SeatOutcome.MERGED: SeatState.DEFERRED,
}
# A seat is recorded `deferred` or `offering`, or straight away `returning` when nobody waits for it.
SEAT_STARTS: Final = frozenset({SeatState.DEFERRED, SeatState.OFFERING, SeatState.RETURNING})
OPEN_SEAT: Final = frozenset({SeatState.DEFERRED, SeatState.OFFERING})

ENTRY_MOVES: Final[Mapping[EntryState, frozenset[EntryState]]] = {
    EntryState.WAITING: frozenset({EntryState.OFFERED, EntryState.CANCELLED, EntryState.EXPIRED, EntryState.BOOKED}),
    EntryState.OFFERED: frozenset({EntryState.BOOKED, EntryState.EXPIRED}),
    EntryState.EXPIRED: frozenset({EntryState.BOOKED}),
    EntryState.BOOKED: frozenset(),
    EntryState.CANCELLED: frozenset(),
}
LIVE_ENTRY: Final = (EntryState.WAITING, EntryState.OFFERED)

# The entry's move that follows its offer's: from which states, to which.
ENTRY_FOLLOWS_OFFER: Final[Mapping[OfferState, tuple[tuple[EntryState, ...], EntryState]]] = {
    OfferState.PENDING: ((EntryState.WAITING,), EntryState.OFFERED),
    OfferState.ACCEPTED: ((EntryState.OFFERED,), EntryState.BOOKED),
    OfferState.EXPIRED: ((EntryState.OFFERED,), EntryState.EXPIRED),
}
# Booking confirmed a hold whose offer had already ended (or never reached the client): its word wins.
ENTRY_BOOKED_LATE: Final = ((EntryState.WAITING, EntryState.OFFERED, EntryState.EXPIRED), EntryState.BOOKED)


def check(moves: Mapping[State, frozenset[State]], current: State, target: State) -> State:
    """`target`, if the machine `moves` allows `current` to become it; else `IllegalTransition`."""
    if target not in moves.get(current, frozenset()):
        raise IllegalTransition(f"{type(current).__name__}: {current} cannot become {target}")
    return target


def check_offer(current: OfferState, target: OfferState) -> OfferState:
    return check(OFFER_MOVES, current, target)


def check_seat(current: SeatState, target: SeatState) -> SeatState:
    return check(SEAT_MOVES, current, target)


def check_seat_outcome(current: SeatState, target: SeatState, outcome: SeatOutcome | None) -> SeatState:
    """`check_seat`, and the outcome (if any) is one a seat in `current` may end with."""
    if outcome is not None and SEAT_OUTCOME_FROM[outcome] is not current:
        raise IllegalTransition(f"SeatState: {current} cannot end {outcome}")
    return check_seat(current, target)


def check_entry(sources: tuple[EntryState, ...], target: EntryState) -> EntryState:
    """`target`, if every one of `sources` may become it (a compare-and-set from any of them)."""
    for source in sources:
        check(ENTRY_MOVES, source, target)
    return target
