"""Availability search over HTTP: `GET /v1/availability`.

A search the gateway sends with the caller's own slots (`X-SmartSlot-Own-Slots`: slots it held or booked moments
ago) whose answer lists one of them, from whatever path (a kept answer, cached pages, a replica fill), has those
slots read again from the primary: the booking's event may not have reached the cache yet, and the caller must not
see the slot it has just taken. The header is believed only beside an identity that verifies (only the gateway
asserts it).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from availability.app_keys import SEARCH, SETTINGS
from availability.domain.errors import ServiceNotFound
from availability.domain.search import lists_own_slot, own_slots
from availability.entrypoints.params import Instant
from availability.service_layer.answers import kept_answer
from availability.service_layer.search import Search, answer, reread
from smartslot_common.http.identity import OWN_SLOTS_HEADER, caller
from smartslot_common.http.json import parse_query
from smartslot_common.http.problems import ProblemError

routes = web.RouteTableDef()


class AvailabilityQuery(BaseModel):
    """`?service_id=&from=&to=[&provider_id=][&clinic_id=]`: slots starting in [from, to)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    service_id: uuid.UUID
    provider_id: uuid.UUID | None = None
    clinic_id: uuid.UUID | None = None
    from_: Instant = Field(alias="from")
    to: Instant


def check_range(start: datetime, end: datetime, max_days: int) -> None:
    """`422 validation_error` naming `to` when the range runs backwards or is longer than `max_days`."""
    if start > end:
        raise _bad_range("from must not be after to", "order")
    if end - start > timedelta(days=max_days):
        raise _bad_range(f"at most {max_days} days after from", "range")


def _bad_range(message: str, kind: str) -> ProblemError:
    return ProblemError(422, "validation_error", f"The range is not valid: {message}.",
                        errors=[{"field": "to", "message": message, "type": kind}])


def _search(request: web.Request) -> Search:
    """The request's search; `422` for invalid parameters or range."""
    query = parse_query(request, AvailabilityQuery)
    check_range(query.from_, query.to, request.app[SETTINGS].max_range_days)
    return Search(query.service_id, query.from_, query.to, query.provider_id, query.clinic_id)


def _own_slots(request: web.Request) -> tuple[bytes, ...]:
    """The slots the caller held or booked moments ago, as the gateway names them; none without the header, or
    beside an identity that does not verify."""
    header = request.headers.get(OWN_SLOTS_HEADER)
    if header is None:
        return ()
    try:
        caller(request)
    except ProblemError:
        return ()
    return own_slots(header)


@routes.get("/v1/availability")
async def availability(request: web.Request) -> web.Response:
    """Open slots of a service, ordered by start: the answer kept for this very query while it still holds, else a
    search (which is kept in turn); the caller's own slots it lists read again from the primary."""
    deps, query_string, now = request.app[SEARCH], request.rel_url.raw_query_string, time.time()
    body = await kept_answer(deps.answers, deps.cache, query_string, now)
    if body is None:
        try:
            body = await answer(deps, query_string, _search(request), now)
        except ServiceNotFound:
            raise ProblemError(404, "not_found", "No such service.") from None
    own = _own_slots(request)
    if own and lists_own_slot(body, own):
        body = await reread(deps, body, own, now)
    return web.Response(body=body, content_type="application/json")
