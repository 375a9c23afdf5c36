"""Events that change what is free make the cached pages they touch stale, fenced at the primary's WAL position.

The consumer hands over every event in hand at once, with the WAL position booking's relay read when it took them
from its outbox: past each event's commit. (An event without one, published by anything but a relay, is fenced at
the primary's insert position read now, which is past its commit as well: it was published after it.) The fences of
the pages the events touch are raised to that position and those pages deleted, in one Redis call: a replica that has
not replayed that far can no longer fill them. Invalidating is idempotent (raising a fence or dropping a page twice
changes nothing), so it needs no inbox and no transaction: a redelivered event is simply applied again, and a Redis
failure leaves the events unacknowledged, to be retried.

Each event's payload is read once, as its contract model. One that cannot be read makes its batch fail before
anything is applied, so the consumer applies the batch's events one by one; alone, it drops every page (what it
changed is unknown) and is dead-lettered (`UnreadablePayload` is a `PermanentError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from availability import metrics
from availability.adapters.positions import primary_position, system_identifier
from availability.app_keys import CACHE, LIVE_CHANGES, POOL
from availability.domain.invalidation import Invalidation, for_event, merged
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
from smartslot_common.contracts.parsing import UnreadablePayload, read_payload
from smartslot_common.contracts.payloads import Payload
from smartslot_common.logging import get_logger
from smartslot_common.messaging import Event, IdempotentHandler
from smartslot_common.messaging.wal import WalPosition

INVALIDATING = (
    APPOINTMENT_LOCKED, APPOINTMENT_CONFIRMED, APPOINTMENT_CANCELLED, APPOINTMENT_EXPIRED, APPOINTMENT_COMPLETED,
    APPOINTMENT_NO_SHOW, APPOINTMENT_RESCHEDULED,
    SLOT_CREATED, SLOT_RELEASED, SLOT_BLOCKED,
    SCHEDULE_CHANGED,
)
log = get_logger(__name__)


def handler(app: web.Application) -> IdempotentHandler:
    """The consumer's handler of every event that changes what is free."""

    primary = PrimaryPositions()

    async def invalidate(events: Sequence[Event], relayed_at: WalPosition | None) -> None:
        read = Readings.of(events)
        if read.unreadable is not None and len(events) > 1:
            raise read.unreadable  # nothing applied: the consumer applies the batch's events one by one
        invalidation = merged(map(for_event, read.payloads))
        if read.unreadable is not None:
            invalidation = merged([invalidation, for_event(None)])
            log.warning("event_not_understood_dropping_every_page", error=str(read.unreadable))
        if not invalidation.is_empty:
            fence = await primary.past(app[POOL], relayed_at)
            await app[CACHE].invalidate(invalidation, fence)
            _count(invalidation)
            # after the pages: a page that reloads on the event sees the change
            app[LIVE_CHANGES].touched(read.payloads, fence)
        if read.unreadable is not None:
            raise read.unreadable  # every page dropped; the event goes to the dead-letter queue

    return IdempotentHandler(frozenset(INVALIDATING), invalidate)


@dataclass(frozen=True)
class Readings:
    """The payloads of a batch's events, each read once as its contract model, and the first that could not be."""

    payloads: list[Payload]
    unreadable: UnreadablePayload | None = None

    @classmethod
    def of(cls, events: Sequence[Event]) -> Readings:
        payloads: list[Payload] = []
        for event in events:
            try:
                payload = read_payload(event)
            except UnreadablePayload as error:
                return cls(payloads, error)
            if payload is not None:
                payloads.append(payload)
        return cls(payloads)


class PrimaryPositions:
    """Where to fence: the relay's position when it is one of the primary's cluster, else the primary's now."""

    def __init__(self) -> None:
        self._system: int | None = None

    async def past(self, pool: asyncpg.Pool, relayed_at: WalPosition | None) -> int:
        """A WAL position of the primary past the commits of the events `relayed_at` came with."""
        if relayed_at is not None:
            if self._system is None:
                self._system = await system_identifier(pool)
            if relayed_at.system == self._system:
                return relayed_at.lsn
        return await primary_position(pool)


def _count(invalidation: Invalidation) -> None:
    metrics.CACHE_INVALIDATIONS.labels(scope="day").inc(len(invalidation.days))
    metrics.CACHE_INVALIDATIONS.labels(scope="provider").inc(len(invalidation.providers))
    metrics.CACHE_INVALIDATIONS.labels(scope="everything").inc(invalidation.everything)
