"""Admin analytics over HTTP: `GET /v1/admin/analytics?from=&to=`."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from availability.adapters.analytics import provider_tallies
from availability.app_keys import READ_POOL, SETTINGS
from availability.domain.analytics import report
from availability.entrypoints.http import check_range
from availability.entrypoints.params import Instant
from smartslot_common.http import json_response
from smartslot_common.http.identity import require_role
from smartslot_common.http.json import parse_query

routes = web.RouteTableDef()


class AnalyticsQuery(BaseModel):
    """`?from=&to=`: appointments and slots starting in [from, to)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Instant = Field(alias="from")
    to: Instant


@routes.get("/v1/admin/analytics")
async def analytics(request: web.Request) -> web.Response:
    """Bookings by status, utilisation, cancellations, fees, hold conversion and waitlist figures, per provider and
    clinic too (definitions: `availability.domain.analytics`)."""
    require_role(request, "admin")
    query = parse_query(request, AnalyticsQuery)
    check_range(query.from_, query.to, request.app[SETTINGS].max_analytics_days)
    return json_response(report(await provider_tallies(request.app[READ_POOL], query.from_, query.to)))
