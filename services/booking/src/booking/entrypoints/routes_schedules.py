"""Schedule routes: working hours, ad-hoc slots."""

from __future__ import annotations

from aiohttp import web

from booking.app_keys import POOL, SETTINGS
from booking.domain.schedule import WorkingHoursRule
from booking.entrypoints import schemas
from booking.entrypoints.paths import path_uuid
from booking.service_layer import schedules
from smartslot_common.http import json_response, read_json
from smartslot_common.http.identity import require_role

routes = web.RouteTableDef()


@routes.put("/v1/providers/{provider_id}/working-hours")
async def set_working_hours(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.SetWorkingHours)
    rules = [WorkingHoursRule(r.weekday, r.start, r.end, r.service_id) for r in body.rules]
    horizon = request.app[SETTINGS].booking_horizon_days
    provider_id = path_uuid(request, "provider_id", "provider")
    result = await schedules.set_working_hours(request.app[POOL], provider_id, rules, horizon)
    return json_response({**result, "rules": [rule.model_dump(mode="json") for rule in body.rules]})


@routes.post("/v1/providers/{provider_id}/slots")
async def create_slot(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateSlot)
    slot = await schedules.create_slot(
        request.app[POOL], path_uuid(request, "provider_id", "provider"), body.service_id, body.starts_at,
        body.capacity,
    )
    return json_response(slot, 201)
