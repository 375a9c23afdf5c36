"""Events that change what is free make the cached pages they touch stale, fenced at the primary's WAL position.

The handler runs inside the inbox transaction (exactly-once effect): it reads the primary's WAL insert position,
which is past the producer's commit (the event was published after it) and past this inbox row, raises the fences
of the pages the event touches to it and deletes those pages. A replica that has not replayed that far can no longer
fill them. Invalidating is idempotent, so it happens before the inbox commits: a Redis failure rolls the inbox row
back and the event is retried, rather than being marked done with the cache still stale.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from availability import metrics
from availability.adapters.positions import primary_position
from availability.app_keys import CACHE
from availability.domain.invalidation import Invalidation, for_event
from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_EXPIRED,
    APPOINTMENT_LOCKED,
    APPOINTMENT_NO_SHOW,
    APPOINTMENT_RESCHEDULED,
    SCHEDULE_CHANGED,
    SLOT_BLOCKED,
    SLOT_CREATED,
    SLOT_RELEASED,
)
from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging import AfterCommit, Event

INVALIDATING = (
    APPOINTMENT_LOCKED, APPOINTMENT_CONFIRMED, APPOINTMENT_CANCELLED, APPOINTMENT_EXPIRED, APPOINTMENT_COMPLETED,
    APPOINTMENT_NO_SHOW, APPOINTMENT_RESCHEDULED,
    SLOT_CREATED, SLOT_RELEASED, SLOT_BLOCKED,
    SCHEDULE_CHANGED,
)
log = get_logger(__name__)


def handlers(app: web.Application) -> dict[str, Callable[[Connection, Event], Awaitable[AfterCommit | None]]]:
    """One handler for every event that changes what is free."""

    async def invalidate(connection: Connection, event: Event) -> None:
        invalidation = for_event(event.type, event.payload)
        if invalidation.everything:
            log.warning("event_not_understood_dropping_every_page", payload=event.payload)
        if invalidation.is_empty:
            return None
        await app[CACHE].invalidate(invalidation, await primary_position(connection))
        _count(invalidation)
        return None

    return dict.fromkeys(INVALIDATING, invalidate)


def _count(invalidation: Invalidation) -> None:
    metrics.CACHE_INVALIDATIONS.labels(scope="day").inc(len(invalidation.days))
    metrics.CACHE_INVALIDATIONS.labels(scope="provider").inc(len(invalidation.providers))
    metrics.CACHE_INVALIDATIONS.labels(scope="everything").inc(invalidation.everything)
