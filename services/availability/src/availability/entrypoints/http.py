"""Availability search over HTTP: `GET /v1/availability`."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from availability.app_keys import SEARCH, SETTINGS
from availability.domain.errors import ServiceNotFound
from availability.entrypoints.params import Instant
from availability.service_layer.answers import kept_answer
from availability.service_layer.search import Search, answer
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


@routes.get("/v1/availability")
async def availability(request: web.Request) -> web.Response:
    """Open slots of a service, ordered by start: the answer kept for this very query while it still holds, else a
    search (which is kept in turn)."""
    deps, query_string, now = request.app[SEARCH], request.rel_url.raw_query_string, time.time()
    body = await kept_answer(deps.answers, deps.cache, query_string, now)
    if body is None:
        query = parse_query(request, AvailabilityQuery)
        check_range(query.from_, query.to, request.app[SETTINGS].max_range_days)
        search = Search(query.service_id, query.from_, query.to, query.provider_id, query.clinic_id)
        try:
            body = await answer(deps, query_string, search, now)
        except ServiceNotFound:
            raise ProblemError(404, "not_found", "No such service.") from None
    return web.Response(body=body, content_type="application/json")
