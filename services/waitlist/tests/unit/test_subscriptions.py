"""The waitlist's queue is bound to exactly the events it handles: no delivery is wasted on an event it would only
acknowledge, and no handler waits for an event that never arrives."""

from smartslot_common.contracts.events import handled_types
from waitlist.entrypoints.consumers import WaitlistHandlers


def test_queue_bindings_match_the_handlers() -> None:
    handlers = WaitlistHandlers(offerer=None).mapping()  # type: ignore[arg-type]  # building the map uses none

    assert set(handlers) == handled_types("waitlist")
