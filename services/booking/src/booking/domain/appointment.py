"""The appointment and its lifecycle as the State pattern: each state allows or refuses each action."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from booking.domain.errors import InvalidTransition

# A hold's status: the public API's and the database's word for it is "locked" (kept); code names it once, here.
HOLD_STATUS = "locked"
CONFIRMED_STATUS = "confirmed"
# Which slot counter a live appointment's seat occupies (`slots.held` for a hold, `slots.booked` for a booking).
SEAT_COUNTER = {HOLD_STATUS: "held", CONFIRMED_STATUS: "booked"}


@dataclass
class Appointment:
    """One client's hold or booking on one slot, as stored (the repository builds it from the row)."""

    id: uuid.UUID
    status: str
    slot_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime | None
    origin: str
    assignment: str
    fee_cents: int
    currency: str | None
    created_at: datetime
    updated_at: datetime
    client_email: str | None
    client_name: str | None
    ics_sequence: int
    version: int = 0  # the compare-and-set token; 0 when the read did not ask for it
    lock_token: str | None = None  # the slot lock's token a one-seat hold keeps until confirmed, cancelled or expired

    @property
    def seat_counter(self) -> str | None:
        """The slot counter this appointment's seat occupies; None once it holds no seat."""
        return SEAT_COUNTER.get(self.status)

    def as_row(self) -> dict[str, Any]:
        """The appointment's fields by column name, for the event payload builders and the API's rendering (the
        instance's own dict: no copy)."""
        return self.__dict__


@dataclass
class NewAppointment:
    """An appointment about to be written by a claim, in the status its first steps end in."""

    id: uuid.UUID
    slot_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    client_id: uuid.UUID
    status: str
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime | None
    origin: str
    assignment: str
    assignment_reason: str | None
    lock_token: str | None
    client_email: str | None
    client_name: str | None
    currency: str | None

    def as_row(self) -> dict[str, Any]:
        """The fields by column name (the instance's own dict: no copy)."""
        return self.__dict__


@dataclass(frozen=True)
class EventContext:
    """What an appointment's events tell consumers besides the appointment: zone, names, place, price."""

    timezone: str | None = None
    provider_name: str | None = None
    provider_user_id: uuid.UUID | None = None
    service_name: str | None = None
    price_cents: int | None = None
    currency: str | None = None
    clinic_name: str | None = None
    clinic_address: str | None = None

    def as_mapping(self) -> dict[str, Any]:
        """The fields by name, for the event payload builders (the instance's own dict: no copy)."""
        return self.__dict__

ACTIONS = ("hold", "confirm", "cancel", "complete", "expire", "mark_no_show")
# Actions a state may allow without leaving it: the appointment changes, its status does not.
IN_PLACE_ACTIONS = ("reschedule",)
ALL_ACTIONS = ACTIONS + IN_PLACE_ACTIONS


class AppointmentState:
    """A state answers each action with the next state's name, or refuses it."""

    name: ClassVar[str]
    transitions: ClassVar[dict[str, str]] = {}
    in_place: ClassVar[frozenset[str]] = frozenset()

    def allows(self, action: str) -> bool:
        """Whether this state accepts `action` at all."""
        return action in self.transitions or action in self.in_place

    def next_for(self, action: str) -> str:
        """The status an action leads to; `InvalidTransition` when this state refuses it."""
        if action in self.in_place:
            return self.name
        try:
            return self.transitions[action]
        except KeyError:
            raise InvalidTransition(f"Cannot {action.replace('_', ' ')} an appointment that is {self.name}.") from None


class Draft(AppointmentState):
    name = "draft"
    transitions = {"hold": "locked", "cancel": "cancelled"}


class Locked(AppointmentState):
    name = "locked"
    transitions = {"confirm": "confirmed", "cancel": "cancelled", "expire": "expired"}
    in_place = frozenset({"reschedule"})


class Confirmed(AppointmentState):
    name = "confirmed"
    transitions = {"cancel": "cancelled", "complete": "completed", "mark_no_show": "no_show"}
    in_place = frozenset({"reschedule"})


class Cancelled(AppointmentState):
    name = "cancelled"


class Completed(AppointmentState):
    name = "completed"


class Expired(AppointmentState):
    name = "expired"


class NoShow(AppointmentState):
    name = "no_show"


STATES: dict[str, AppointmentState] = {
    state.name: state() for state in (Draft, Locked, Confirmed, Cancelled, Completed, Expired, NoShow)
}


def state_of(status: str) -> AppointmentState:
    """The state object for a stored status."""
    return STATES[status]
