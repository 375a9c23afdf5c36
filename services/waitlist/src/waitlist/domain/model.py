"""What a client waits for, a seat that came free, and an entry in the queue (and as its client sees it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from waitlist.domain.errors import InvalidWish
from waitlist.domain.states import EntryState, OfferState

Kind = Literal["slot", "provider", "service"]


@dataclass(frozen=True)
class Wish:
    """A specific slot, a provider within a window, or a service within a window with any provider."""

    service_id: uuid.UUID
    provider_id: uuid.UUID | None = None
    slot_id: uuid.UUID | None = None
    window_from: datetime | None = None
    window_to: datetime | None = None

    @property
    def kind(self) -> Kind:
        if self.slot_id is not None:
            return "slot"
        return "provider" if self.provider_id is not None else "service"


def check_wish(wish: Wish, now: datetime) -> None:
    """Refuse a wish no slot could ever match (`InvalidWish` naming the field)."""
    if wish.slot_id is not None and (wish.window_from or wish.window_to):
        raise InvalidWish("from", "A wish for one slot takes no time window.")
    if wish.window_from and wish.window_to and wish.window_from >= wish.window_to:
        raise InvalidWish("from", "`from` must be before `to`.")
    if wish.window_to and wish.window_to <= now:
        raise InvalidWish("to", "The window is already over.")


@dataclass(frozen=True)
class FreeSeat:
    """One seat of a slot that came free and may be offered down the waitlist."""

    slot_id: uuid.UUID
    service_id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: datetime


@dataclass(frozen=True)
class Entry:
    """A waiting client: their wish, their priority and when they joined."""

    id: uuid.UUID
    client_id: uuid.UUID
    wish: Wish
    priority: int
    created_at: datetime
    state: EntryState = EntryState.WAITING


@dataclass(frozen=True)
class LatestOffer:
    """An entry's latest offer that reached its client: the seat held for them until `expires_at`."""

    id: uuid.UUID
    state: OfferState
    slot_id: uuid.UUID
    appointment_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True)
class EntryView:
    """An entry as its client sees it: where it stands (1 = next, only while waiting) and its latest offer."""

    entry: Entry
    position: int | None
    updated_at: datetime
    latest_offer: LatestOffer | None = None
    client_email: str | None = None
    client_name: str | None = None
