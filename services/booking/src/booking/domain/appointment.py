"""The appointment lifecycle as the State pattern: each state allows or refuses each action."""

from __future__ import annotations

from typing import ClassVar

from booking.domain.errors import InvalidTransition

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
