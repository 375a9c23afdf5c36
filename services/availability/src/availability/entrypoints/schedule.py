"""A provider's day over HTTP: `GET /v1/providers/{id}/schedule?date=YYYY-MM-DD`."""

from __future__ import annotations

import uuid

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from availability.app_keys import POOL, READ_POOL
from availability.domain.errors import NotFound
from availability.entrypoints.params import Day
from availability.service_layer.schedule import day_view
from smartslot_common.http import json_response
from smartslot_common.http.identity import require_role
from smartslot_common.http.json import parse_query
from smartslot_common.http.problems import ProblemError

routes = web.RouteTableDef()


class ScheduleQuery(BaseModel):
    """`?date=YYYY-MM-DD`: a calendar day in the provider's time zone."""

    model_config = ConfigDict(extra="forbid")

    date: Day


@routes.get("/v1/providers/{id}/schedule")
async def provider_schedule(request: web.Request) -> web.Response:
    """The provider's slots and appointments of one local day; 404 unless it is the caller's own or an admin asks."""
    caller = require_role(request, "provider", "admin")
    try:
        provider_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise ProblemError(404, "not_found", "No such provider.") from None
    query = parse_query(request, ScheduleQuery)
    try:
        view = await day_view(request.app[READ_POOL], request.app[POOL], caller, provider_id, query.date)
    except NotFound:
        raise ProblemError(404, "not_found", "No such provider.") from None
    return json_response(view)
