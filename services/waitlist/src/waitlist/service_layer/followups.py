"""What a committed decision asks to be done next, and the knobs decisions need."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class SendHold:
    """Ask booking to hold the slot for a requesting offer's client."""

    offer_id: uuid.UUID
    slot_id: uuid.UUID


@dataclass(frozen=True)
class ReturnSlot:
    """Hand a slot the waitlist has finished with back to the public pool."""

    seat_id: uuid.UUID
    slot_id: uuid.UUID


Followup: TypeAlias = SendHold | ReturnSlot


@dataclass(frozen=True)
class Policy:
    """The knobs decisions need."""

    offer_ttl_seconds: int
    lease_seconds: float
    recheck_seconds: float
