"""A slot: the atomic unit of availability, and the validation chain run before every booking."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from booking.domain.errors import HELD_BY_ANOTHER, NO_SEAT_LEFT, SlotHeld, SlotInPast, SlotNotFound, SlotUnavailable


@dataclass(frozen=True)
class Slot:
    """One bookable interval of one provider for one service."""

    id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    held: int
    booked: int
    status: str
    version: int

    @property
    def remaining(self) -> int:
        return self.capacity - self.held - self.booked


Check = Callable[[Slot, datetime], None]


def _is_live(slot: Slot, _: datetime) -> None:
    if slot.status != "open":
        raise SlotUnavailable("This slot is no longer offered.")


def _is_not_full(slot: Slot, _: datetime) -> None:
    """Full: `slot_held` while one of its seats is only held (it may come back), `slot_unavailable` once all are
    booked."""
    if slot.remaining > 0:
        return
    if slot.held > 0:
        raise SlotHeld(HELD_BY_ANOTHER)
    raise SlotUnavailable(NO_SEAT_LEFT)


def _has_not_started(slot: Slot, now: datetime) -> None:
    if slot.starts_at <= now:
        raise SlotInPast("This slot has already started.")


BOOKING_CHECKS: tuple[Check, ...] = (_is_live, _is_not_full, _has_not_started)


def validate_bookable(slot: Slot | None, now: datetime, checks: tuple[Check, ...] = BOOKING_CHECKS) -> Slot:
    """Run the chain (exists, live, not full, not started); the first failing link answers."""
    if slot is None:
        raise SlotNotFound("No such slot.")
    for check in checks:
        check(slot, now)
    return slot
