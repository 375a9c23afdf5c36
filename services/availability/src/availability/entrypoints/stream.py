"""`GET /v1/availability/stream`: the live changes to open slots of a search, as server-sent events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web

from availability.adapters.live_slots import SharedLog
from availability.adapters.slots import service_exists
from availability.app_keys import LIVE, LIVE_CHANGES, POOL, READ_POOL, REDIS, SETTINGS
from availability.entrypoints.http import AvailabilityQuery, check_range
from availability.service_layer.live import LiveChanges, feed, follow
from smartslot_common.http.json import parse_query
from smartslot_common.http.problems import ProblemError
from smartslot_common.live import RESET, Entry, LiveLog, serve_stream

routes = web.RouteTableDef()


class Matcher:
    """Which entries a search's page wants: its service's slots starting in its range (of its provider and clinic, if
    named), and resets naming its service."""

    def __init__(self, service_id: str, provider_id: str | None, clinic_id: str | None, start: datetime,
                 end: datetime) -> None:
        self.service_id, self.provider_id, self.clinic_id = service_id, provider_id, clinic_id
        self.start, self.end = start, end

    def __call__(self, entry: Entry) -> bool:
        scope = entry.scope if isinstance(entry.scope, dict) else {}
        if entry.event == RESET:
            services = scope.get("service_ids")
            return not services or self.service_id in services
        if scope.get("service_id") != self.service_id:
            return False
        if self.provider_id and scope.get("provider_id") != self.provider_id:
            return False
        if self.clinic_id and scope.get("clinic_id") != self.clinic_id:
            return False
        starts_at = datetime.fromisoformat(scope["starts_at"])
        return self.start <= starts_at < self.end


@routes.get("/v1/availability/stream")
async def availability_stream(request: web.Request) -> web.StreamResponse:
    """Every change to a slot in the search's range: created, held, booked, freed or removed (`remaining: 0` when it
    left the pool); validated like the search itself."""
    query = parse_query(request, AvailabilityQuery)
    settings = request.app[SETTINGS]
    check_range(query.from_, query.to, settings.max_range_days)
    if not await _service_exists(request.app, query.service_id):
        raise ProblemError(404, "not_found", "No such service.")
    wanted = Matcher(str(query.service_id), str(query.provider_id) if query.provider_id else None,
                     str(query.clinic_id) if query.clinic_id else None, query.from_, query.to)
    return await serve_stream(request, request.app[LIVE], wanted, settings.live_heartbeat_seconds)


async def _service_exists(app: web.Application, service_id: uuid.UUID) -> bool:
    """Asked once per stream: the replica, then the primary before saying no (it may be a moment old)."""
    return await service_exists(app[READ_POOL], service_id) or await service_exists(app[POOL], service_id)


async def live_context(app: web.Application) -> AsyncIterator[None]:
    """The stream's log and its feeder and follower tasks; every open stream ends at shutdown."""
    settings = app[SETTINGS]
    shared = SharedLog(app[REDIS], settings.redis_key("live", "slots"), settings.live_log_entries)
    live = app[LIVE] = LiveLog(settings.live_log_entries)
    changes = app[LIVE_CHANGES] = LiveChanges()
    tasks = [asyncio.create_task(feed(changes, shared, app[READ_POOL], app[POOL]), name="live-feed"),
             asyncio.create_task(follow(shared, live, settings.live_log_entries), name="live-follow")]
    yield
    live.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def close_streams(app: web.Application) -> None:
    """On shutdown, before connections are closed: open streams end, so the shutdown need not wait for them."""
    if LIVE in app:
        app[LIVE].close()

