"""The appointment lifecycle (State pattern): every state answers every action, and nothing leaves the graph."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.appointment import ACTIONS, ALL_ACTIONS, IN_PLACE_ACTIONS, STATES, AppointmentState, state_of
from booking.domain.errors import InvalidTransition

# ARCHITECTURE.md, "Appointment lifecycle": draft → locked → confirmed → completed, locked → expired | cancelled,
# confirmed → cancelled | no_show.
DOCUMENTED = {
    ("draft", "hold"): "locked",
    ("locked", "confirm"): "confirmed",
    ("locked", "expire"): "expired",
    ("locked", "cancel"): "cancelled",
    ("confirmed", "complete"): "completed",
    ("confirmed", "cancel"): "cancelled",
    ("confirmed", "mark_no_show"): "no_show",
}
# The code also lets a draft (a request with no slot yet) be withdrawn; the architecture's graph does not list it.
# Pinned here so that the edge is a visible decision, not an accident.
BEYOND_THE_DOCUMENT = {("draft", "cancel"): "cancelled"}
ALLOWED = DOCUMENTED | BEYOND_THE_DOCUMENT
# Actions that change the appointment but not its status (a reschedule moves a live appointment to another slot).
IN_PLACE = {("locked", "reschedule"), ("confirmed", "reschedule")}

STATUSES = ("draft", "locked", "confirmed", "cancelled", "completed", "expired", "no_show")
TERMINAL = ("cancelled", "completed", "expired", "no_show")
EVERY_PAIR = [(status, action) for status in STATUSES for action in ALL_ACTIONS]


def test_every_documented_status_has_a_state_and_nothing_else_does() -> None:
    assert set(STATES) == set(STATUSES)
    assert all(isinstance(state, AppointmentState) and state.name == name for name, state in STATES.items())


def test_the_actions_are_exactly_those_the_graph_uses() -> None:
    assert set(ACTIONS) == {action for _, action in ALLOWED}
    assert set(IN_PLACE_ACTIONS) == {action for _, action in IN_PLACE}
    assert set(ALL_ACTIONS) == set(ACTIONS) | set(IN_PLACE_ACTIONS)


@pytest.mark.parametrize(("status", "action"), EVERY_PAIR, ids=[f"{s}-{a}" for s, a in EVERY_PAIR])
def test_each_state_allows_or_refuses_each_action(status: str, action: str) -> None:
    state = state_of(status)
    assert state.allows(action) == ((status, action) in ALLOWED or (status, action) in IN_PLACE)
    if (status, action) in ALLOWED:
        assert state.next_for(action) == ALLOWED[(status, action)]
    elif (status, action) in IN_PLACE:
        assert state.next_for(action) == status
    else:
        with pytest.raises(InvalidTransition) as refused:
            state.next_for(action)
        assert refused.value.code == "invalid_transition"
        assert status in refused.value.detail  # "Cannot confirm an appointment that is expired."


def test_the_only_edge_beyond_the_documented_graph_is_withdrawing_a_draft() -> None:
    implemented = {
        (status, action): STATES[status].transitions[action]
        for status in STATUSES
        for action in ACTIONS
        if action in STATES[status].transitions
    }
    assert implemented.keys() - DOCUMENTED.keys() == BEYOND_THE_DOCUMENT.keys()
    assert DOCUMENTED.items() <= implemented.items()


@pytest.mark.parametrize("status", TERMINAL)
def test_a_terminal_state_refuses_every_action(status: str) -> None:
    for action in ALL_ACTIONS:
        assert not state_of(status).allows(action)
        with pytest.raises(InvalidTransition):
            state_of(status).next_for(action)


def test_refusal_message_reads_as_a_sentence() -> None:
    with pytest.raises(InvalidTransition, match="Cannot mark no show an appointment that is locked"):
        state_of("locked").next_for("mark_no_show")


def test_every_status_is_reachable_from_draft() -> None:
    reached, frontier = {"draft"}, ["draft"]
    while frontier:
        status = frontier.pop()
        for action in STATES[status].transitions:
            following = STATES[status].next_for(action)
            if following not in reached:
                reached.add(following)
                frontier.append(following)
    assert reached == set(STATUSES)


@given(start=st.sampled_from(STATUSES), actions=st.lists(st.sampled_from(ALL_ACTIONS), max_size=30))
def test_random_action_sequences_only_walk_the_graph(start: str, actions: list[str]) -> None:
    status = start
    for action in actions:
        before = status
        try:
            status = state_of(status).next_for(action)
        except InvalidTransition:
            assert (before, action) not in ALLOWED
            assert (before, action) not in IN_PLACE
            continue
        assert before not in TERMINAL, f"{before} is terminal but allowed {action}"
        if (before, action) in IN_PLACE:
            assert status == before
        else:
            assert ALLOWED[(before, action)] == status
    if start in TERMINAL:
        assert status == start


@given(actions=st.lists(st.sampled_from(ALL_ACTIONS), max_size=30))
def test_from_draft_the_path_is_a_prefix_of_a_documented_lifecycle(actions: list[str]) -> None:
    path = ["draft"]
    for action in actions:
        try:
            following = state_of(path[-1]).next_for(action)
        except InvalidTransition:
            continue
        if following != path[-1]:  # in-place actions leave the status where it is
            path.append(following)
    # Every appointment lives at most three steps: draft → locked → confirmed → (terminal).
    assert len(path) <= 4
    assert len(set(path)) == len(path), f"a status repeated: {path}"
    for before, after in pairwise(path):
        assert after in {target for (source, _), target in ALLOWED.items() if source == before}
