"""Domain failures, each with the stable error code the API reports."""

from __future__ import annotations

from typing import Any

# What a client is told when a slot it asked for is taken, wherever that is found (memory, Redis, PostgreSQL).
HELD_BY_ANOTHER = "Someone else is holding this slot right now."
NO_SEAT_LEFT = "This time slot is no longer available."


class BookingError(Exception):
    """A request the domain refuses; `code` is the public error code."""

    code = "conflict"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class SecondLiveSeat(Exception):
    """The client already has a live appointment on that slot (one live seat per client and slot); the use case
    answers it in its own words."""


class NotFound(BookingError):
    code = "not_found"


class SlotNotFound(BookingError):
    code = "slot_not_found"


class SlotHeld(BookingError):
    code = "slot_held"


class SlotUnavailable(BookingError):
    code = "slot_unavailable"


class SlotInPast(BookingError):
    code = "slot_in_past"


class SlotOverlap(BookingError):
    code = "slot_overlap"


class InvalidTransition(BookingError):
    code = "invalid_transition"


class HoldExpired(BookingError):
    code = "hold_expired"


class HoldQuota(BookingError):
    code = "hold_quota"


class InvalidSchedule(BookingError):
    code = "validation_error"


class IdempotencyMismatch(BookingError):
    code = "idempotency_mismatch"


class IdempotencyInFlight(BookingError):
    code = "idempotency_in_flight"


class NoProviderAvailable(BookingError):
    code = "no_provider_available"


class ConflictingAppointments(BookingError):
    code = "conflicting_appointments"
