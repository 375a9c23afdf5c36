"""Booking routes: holds and instant bookings."""

from __future__ import annotations

from aiohttp import web

from booking.app_keys import LOCK, POOL, SETTINGS
from booking.entrypoints import schemas
from booking.entrypoints.commands import execute
from booking.service_layer import holds
from smartslot_common.http import read_json
from smartslot_common.http.identity import require_role

routes = web.RouteTableDef()


def render_appointment(row) -> dict:
    return schemas.Appointment.model_validate(dict(row)).model_dump(mode="json")


@routes.post("/v1/holds")
async def place_hold(request: web.Request) -> web.Response:
    who = require_role(request, "client")
    body = await read_json(request, schemas.HoldRequest)
    settings = request.app[SETTINGS]
    policy = holds.HoldPolicy(settings.hold_ttl_seconds, settings.max_live_holds)
    command = holds.PlaceHold(body.slot_id, who.user_id)
    return await execute(request, who, 201, render_appointment, lambda on_commit: holds.place_hold(
        request.app[POOL], request.app[LOCK], policy, command, on_commit))
