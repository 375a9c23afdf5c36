"""The appointment lifecycle as the State pattern: each state allows or refuses each action."""

from __future__ import annotations

from typing import ClassVar

from booking.domain.errors import InvalidTransition

ACTIONS = ("hold", "confirm", "cancel", "complete", "expire", "mark_no_show")


class AppointmentState:
    """A state answers each action with the next state's name, or refuses it."""

    name: ClassVar[str]
    transitions: ClassVar[dict[str, str]] = {}

    def next_for(self, action: str) -> str:
        """The status an action leads to; `InvalidTransition` when this state refuses it."""
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


class Confirmed(AppointmentState):
    name = "confirmed"
    transitions = {"cancel": "cancelled", "complete": "completed", "mark_no_show": "no_show"}


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
