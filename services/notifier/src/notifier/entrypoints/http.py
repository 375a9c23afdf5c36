"""The in-app feed over HTTP: each caller sees and marks only their own notifications."""

from __future__ import annotations

import uuid

from aiohttp import web

from notifier.adapters import feed
from notifier.app_keys import POOL
from notifier.entrypoints.pagination import paginate
from smartslot_common.http import json_response
from smartslot_common.http.identity import caller
from smartslot_common.http.json import parse_query
from smartslot_common.http.problems import ProblemError
from smartslot_common.http.queries import PageQuery

routes = web.RouteTableDef()


@routes.get("/v1/notifications")
async def list_notifications(request: web.Request) -> web.Response:
    user_id = caller(request).user_id
    pool = request.app[POOL]
    query = parse_query(request, PageQuery)
    return json_response(await paginate(query, lambda limit, after: feed.page(pool, user_id, limit, after)))


@routes.post("/v1/notifications/{notification_id}/read")
async def mark_read(request: web.Request) -> web.Response:
    user_id = caller(request).user_id
    try:
        notification_id = uuid.UUID(request.match_info["notification_id"])
    except ValueError:
        raise ProblemError(404, "not_found", "No such notification.") from None
    row = await feed.mark_read(request.app[POOL], notification_id, user_id)
    if row is None:
        raise ProblemError(404, "not_found", "No such notification.")
    return json_response(row)
