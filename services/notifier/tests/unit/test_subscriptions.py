"""The notifier's queue is bound to exactly the events it handles: no delivery is wasted on an event it would only
acknowledge, and no handler waits for an event that never arrives."""

from notifier.service_layer.events import EventHandlers
from notifier.settings import NotifierSettings
from smartslot_common.contracts.events import handled_types


def test_queue_bindings_match_the_handlers() -> None:
    handlers = EventHandlers(NotifierSettings(), worker=None).mapping()  # type: ignore[arg-type]  # unused here

    assert set(handlers) == handled_types("notifier")
