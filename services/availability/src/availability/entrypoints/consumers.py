"""Events that change what is free drop the cached pages of their service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from availability.app_keys import CACHE
from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_EXPIRED,
    APPOINTMENT_LOCKED,
    APPOINTMENT_RESCHEDULED,
    SLOT_BLOCKED,
    SLOT_CREATED,
    SLOT_RELEASED,
)
from smartslot_common.messaging import Event

AfterCommit = Callable[[], Awaitable[None]]
INVALIDATING = (
    APPOINTMENT_LOCKED, APPOINTMENT_CONFIRMED, APPOINTMENT_CANCELLED, APPOINTMENT_EXPIRED, APPOINTMENT_COMPLETED,
    APPOINTMENT_RESCHEDULED,
    SLOT_CREATED, SLOT_RELEASED, SLOT_BLOCKED,
)


def handlers(app: web.Application) -> dict[str, Callable[[asyncpg.Connection, Event], Awaitable[AfterCommit]]]:
    """One handler per event that changes availability; the cache is dropped after the inbox commits."""

    async def drop_service_pages(_: asyncpg.Connection, event: Event) -> AfterCommit:
        async def invalidate() -> None:
            await app[CACHE].invalidate(event.payload["service_id"])

        return invalidate

    return dict.fromkeys(INVALIDATING, drop_service_pages)
