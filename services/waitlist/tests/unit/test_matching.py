"""Matching and queue order: the rules every offer follows (properties checked with hypothesis)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from waitlist.domain.matching import matches, next_candidate, position, queue_key, same_target
from waitlist.domain.model import Entry, FreeSeat, Wish

BASE = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
SERVICES = [uuid.UUID(int=1), uuid.UUID(int=2)]
PROVIDERS = [uuid.UUID(int=11), uuid.UUID(int=12)]
SLOTS = [uuid.UUID(int=21), uuid.UUID(int=22)]

instants = st.integers(min_value=0, max_value=48).map(lambda hours: BASE + timedelta(hours=hours))
seats = st.builds(FreeSeat, st.sampled_from(SLOTS), st.sampled_from(SERVICES), st.sampled_from(PROVIDERS), instants)


@st.composite
def wishes(draw) -> Wish:
    service = draw(st.sampled_from(SERVICES))
    if draw(st.booleans()):
        return Wish(service, draw(st.none() | st.sampled_from(PROVIDERS)), draw(st.sampled_from(SLOTS)))
    start = draw(st.none() | instants)
    end = draw(st.none() | instants)
    if start and end and start >= end:
        start, end = end - timedelta(hours=1), start + timedelta(hours=1)
    return Wish(service, draw(st.none() | st.sampled_from(PROVIDERS)), None, start, end)


entries = st.builds(
    Entry, st.uuids(), st.uuids(), wishes(), st.integers(min_value=-2, max_value=2),
    st.integers(min_value=0, max_value=10_000).map(lambda ms: BASE - timedelta(days=1, milliseconds=ms)),
)


def _at(seat: FreeSeat, **changes) -> FreeSeat:
    return FreeSeat(**({"slot_id": seat.slot_id, "service_id": seat.service_id, "provider_id": seat.provider_id,
                        "starts_at": seat.starts_at} | changes))


def test_a_wish_for_the_slot_matches_it():
    seat = FreeSeat(SLOTS[0], SERVICES[0], PROVIDERS[0], BASE)
    assert matches(Wish(SERVICES[0], slot_id=SLOTS[0]), seat)
    assert not matches(Wish(SERVICES[0], slot_id=SLOTS[1]), seat)
    assert not matches(Wish(SERVICES[1], slot_id=SLOTS[0]), seat)


def test_the_window_is_half_open():
    seat = FreeSeat(SLOTS[0], SERVICES[0], PROVIDERS[0], BASE)
    assert matches(Wish(SERVICES[0], window_from=BASE, window_to=BASE + timedelta(hours=1)), seat)
    assert not matches(Wish(SERVICES[0], window_from=BASE - timedelta(hours=1), window_to=BASE), seat)


@given(wishes(), seats)
def test_naming_less_never_matches_less(wish: Wish, seat: FreeSeat):
    """Dropping the provider, the slot or a window bound can only widen what matches."""
    if matches(wish, seat):
        assert matches(Wish(wish.service_id, None, wish.slot_id, wish.window_from, wish.window_to), seat)
        assert matches(Wish(wish.service_id, wish.provider_id, None, wish.window_from, wish.window_to), seat)
        assert matches(Wish(wish.service_id, wish.provider_id, wish.slot_id, None, wish.window_to), seat)
        assert matches(Wish(wish.service_id, wish.provider_id, wish.slot_id, wish.window_from, None), seat)


@given(wishes(), seats)
def test_another_service_never_matches(wish: Wish, seat: FreeSeat):
    other = next(service for service in SERVICES if service != seat.service_id)
    assert not matches(wish, _at(seat, service_id=other)) or wish.service_id == other


@given(st.lists(entries, max_size=12), seats)
def test_the_candidate_is_the_first_matching_entry_in_queue_order(queue: list[Entry], seat: FreeSeat):
    chosen = next_candidate(queue, seat)
    matching = sorted((entry for entry in queue if matches(entry.wish, seat)), key=queue_key)
    assert chosen == (matching[0] if matching else None)


@given(st.lists(entries, max_size=12), seats)
def test_no_matching_entry_is_ahead_of_the_candidate(queue: list[Entry], seat: FreeSeat):
    chosen = next_candidate(queue, seat)
    if chosen is not None:
        ahead = [entry for entry in queue if queue_key(entry) < queue_key(chosen)]
        assert not any(matches(entry.wish, seat) for entry in ahead)


@given(st.lists(entries, min_size=1, max_size=12), seats)
def test_passed_over_entries_and_busy_clients_are_skipped(queue: list[Entry], seat: FreeSeat):
    first = next_candidate(queue, seat)
    if first is None:
        return
    after = next_candidate(queue, seat, passed_over={first.id})
    assert after != first
    assert next_candidate(queue, seat, busy_clients={entry.client_id for entry in queue}) is None


@given(st.lists(entries, max_size=8), seats)
def test_offering_down_the_queue_reaches_every_matching_entry_once_in_order(queue: list[Entry], seat: FreeSeat):
    offered: list[Entry] = []
    while (chosen := next_candidate(queue, seat, passed_over={entry.id for entry in offered})) is not None:
        offered.append(chosen)
    assert offered == sorted((entry for entry in queue if matches(entry.wish, seat)), key=queue_key)


def test_higher_priority_goes_first_then_earlier_join():
    early, late = BASE - timedelta(hours=2), BASE - timedelta(hours=1)
    wish = Wish(SERVICES[0])
    first_come = Entry(uuid.uuid4(), uuid.uuid4(), wish, 0, early)
    prioritised = Entry(uuid.uuid4(), uuid.uuid4(), wish, 1, late)
    seat = FreeSeat(SLOTS[0], SERVICES[0], PROVIDERS[0], BASE)
    assert next_candidate([first_come, prioritised], seat) == prioritised
    assert next_candidate([first_come, Entry(uuid.uuid4(), uuid.uuid4(), wish, 0, late)], seat) == first_come


def test_a_seat_that_started_goes_to_nobody():
    seat = FreeSeat(SLOTS[0], SERVICES[0], PROVIDERS[0], BASE)
    entry = Entry(uuid.uuid4(), uuid.uuid4(), Wish(SERVICES[0]), 0, BASE - timedelta(days=1))
    assert next_candidate([entry], seat, now=BASE) is None
    assert next_candidate([entry], seat, now=BASE - timedelta(seconds=1)) == entry


@given(st.lists(entries, min_size=1, max_size=12))
def test_positions_of_one_target_are_1_to_n_in_queue_order(queue: list[Entry]):
    target = queue[0].wish
    same = sorted((entry for entry in queue if same_target(entry.wish, target)), key=queue_key)
    assert [position(entry, queue) for entry in same] == list(range(1, len(same) + 1))
