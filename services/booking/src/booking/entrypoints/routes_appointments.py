"""Appointment routes: reading and acting on one appointment."""

from __future__ import annotations

from aiohttp import web

from booking.adapters import repository as repo
from booking.app_keys import POOL
from booking.entrypoints import schemas
from booking.entrypoints.paths import path_uuid
from smartslot_common.http import json_response
from smartslot_common.http.identity import require_role
from smartslot_common.http.problems import ProblemError

routes = web.RouteTableDef()


@routes.get("/v1/appointments/{appointment_id}")
async def get_appointment(request: web.Request) -> web.Response:
    who = require_role(request, "client", "provider", "admin")
    row = await repo.get_appointment(request.app[POOL], path_uuid(request, "appointment_id", "appointment"))
    if row is None or (who.role == "client" and row["client_id"] != who.user_id):
        raise ProblemError(404, "not_found", "No such appointment.")
    return json_response(schemas.Appointment.model_validate(dict(row)))
