"""The State pattern with rescheduling: a move keeps the status, and only live appointments may move."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.appointment import ACTIONS, ALL_ACTIONS, IN_PLACE_ACTIONS, STATES, state_of
from booking.domain.errors import InvalidTransition

LIVE = ("locked", "confirmed")
NOT_MOVABLE = tuple(status for status in STATES if status not in LIVE)


def test_reschedule_is_an_action_that_keeps_the_status() -> None:
    assert IN_PLACE_ACTIONS == ("reschedule",)
    assert set(ALL_ACTIONS) == set(ACTIONS) | {"reschedule"}
    assert "reschedule" not in ACTIONS  # ACTIONS stay the edges of the documented status graph


@pytest.mark.parametrize("status", LIVE)
def test_a_live_appointment_may_move_and_stays_what_it_was(status: str) -> None:
    assert state_of(status).allows("reschedule")
    assert state_of(status).next_for("reschedule") == status


@pytest.mark.parametrize("status", NOT_MOVABLE)
def test_anything_else_refuses_to_move(status: str) -> None:
    assert not state_of(status).allows("reschedule")
    with pytest.raises(InvalidTransition, match=f"Cannot reschedule an appointment that is {status}"):
        state_of(status).next_for("reschedule")


@pytest.mark.parametrize("status", list(STATES))
@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_allows_agrees_with_next_for(status: str, action: str) -> None:
    state = state_of(status)
    if state.allows(action):
        state.next_for(action)
    else:
        with pytest.raises(InvalidTransition):
            state.next_for(action)


@pytest.mark.parametrize(
    ("status", "action", "after"),
    [
        ("locked", "confirm", "confirmed"),
        ("locked", "cancel", "cancelled"),
        ("locked", "expire", "expired"),
        ("confirmed", "cancel", "cancelled"),
        ("confirmed", "complete", "completed"),
        ("confirmed", "mark_no_show", "no_show"),
    ],
)
def test_the_lifecycle_use_cases_walk_the_documented_edges(status: str, action: str, after: str) -> None:
    assert state_of(status).next_for(action) == after


@pytest.mark.parametrize(
    ("status", "action"),
    [("confirmed", "confirm"), ("locked", "complete"), ("cancelled", "cancel"), ("completed", "cancel"),
     ("expired", "confirm"), ("locked", "mark_no_show"), ("no_show", "complete")],
)
def test_illegal_lifecycle_actions_are_refused_not_ignored(status: str, action: str) -> None:
    with pytest.raises(InvalidTransition) as refused:
        state_of(status).next_for(action)
    assert refused.value.code == "invalid_transition"


@given(start=st.sampled_from(list(STATES)), actions=st.lists(st.sampled_from(ALL_ACTIONS), max_size=40))
def test_moving_never_changes_where_a_sequence_ends(start: str, actions: list[str]) -> None:
    """Interleaving reschedules into any sequence leaves the statuses it walks through unchanged."""

    def walk(steps: list[str]) -> list[str]:
        path = [start]
        for action in steps:
            try:
                following = state_of(path[-1]).next_for(action)
            except InvalidTransition:
                continue
            if following != path[-1]:
                path.append(following)
        return path

    assert walk(actions) == walk([action for action in actions if action not in IN_PLACE_ACTIONS])


@pytest.mark.parametrize("status", list(STATES))
def test_only_a_confirmed_appointment_can_become_a_no_show(status: str) -> None:
    """`POST /v1/appointments/{id}/no-show` from any other status is `409 invalid_transition`, naming the status."""
    if status == "confirmed":
        assert state_of(status).next_for("mark_no_show") == "no_show"
        return
    with pytest.raises(InvalidTransition, match=f"an appointment that is {status}") as refused:
        state_of(status).next_for("mark_no_show")
    assert refused.value.code == "invalid_transition"
