"""What a committed decision asks to be done once it is visible: calls to booking, run after the commit."""

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
