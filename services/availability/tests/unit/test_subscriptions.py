"""Availability's queue is bound to exactly the events that change what is free: no delivery is wasted on an event
it would only acknowledge, and no invalidation waits for an event that never arrives."""

from availability.entrypoints.consumers import INVALIDATING
from smartslot_common.contracts.events import handled_types


def test_queue_bindings_match_the_invalidating_events() -> None:
    assert set(INVALIDATING) == handled_types("availability")
