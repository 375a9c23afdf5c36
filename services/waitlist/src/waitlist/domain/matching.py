"""Who is next for a freed seat: matching a seat against wishes, and the queue's order.

The repository's SQL mirrors these rules (an integration test checks they agree); this module is their definition.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import datetime

from waitlist.domain.model import Entry, FreeSeat, Wish


def matches(wish: Wish, seat: FreeSeat) -> bool:
    """The seat is what the wish asks for: same service, the provider and slot if named, starting inside the window.

    The window is half-open: `from <= starts_at < to`.
    """
    return (
        wish.service_id == seat.service_id
        and (wish.provider_id is None or wish.provider_id == seat.provider_id)
        and (wish.slot_id is None or wish.slot_id == seat.slot_id)
        and (wish.window_from is None or wish.window_from <= seat.starts_at)
        and (wish.window_to is None or seat.starts_at < wish.window_to)
    )


def queue_key(entry: Entry) -> tuple[int, datetime, uuid.UUID]:
    """Sort key of the queue: higher priority first, then earlier join, then id (a total order)."""
    return (-entry.priority, entry.created_at, entry.id)


def next_candidate(
    waiting: Iterable[Entry], seat: FreeSeat, passed_over: Collection[uuid.UUID] = (),
    busy_clients: Collection[uuid.UUID] = (), now: datetime | None = None,
) -> Entry | None:
    """The first waiting entry the seat matches, skipping entries and clients already dealt with for it.

    `passed_over`: entries offered this slot before or with an offer open elsewhere; `busy_clients`: clients who
    hold, held or declined this slot already. A seat that has started (`now` given) goes to nobody.
    """
    if now is not None and seat.starts_at <= now:
        return None
    eligible = (
        entry for entry in waiting
        if matches(entry.wish, seat) and entry.id not in passed_over and entry.client_id not in busy_clients
    )
    return min(eligible, key=queue_key, default=None)


def same_target(first: Wish, second: Wish) -> bool:
    """Both wait for the same thing: service, provider (or any) and slot (or any)."""
    return (first.service_id, first.provider_id, first.slot_id) == (
        second.service_id, second.provider_id, second.slot_id
    )


def position(entry: Entry, waiting: Iterable[Entry]) -> int:
    """1-based rank of a waiting entry among the waiting entries with the same target (windows aside)."""
    key = queue_key(entry)
    return 1 + sum(
        1 for other in waiting
        if other.id != entry.id and same_target(other.wish, entry.wish) and queue_key(other) < key
    )
