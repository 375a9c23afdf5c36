"""Booking's HTTP routes: thin adapters from requests to service-layer calls."""

from __future__ import annotations

import uuid

from aiohttp import web

from booking.adapters import repository as repo
from booking.app_keys import LOCK, POOL, SETTINGS
from booking.domain.schedule import WorkingHoursRule
from booking.entrypoints import schemas
from booking.service_layer import catalog, holds, schedules
from smartslot_common.http import json_response, read_json
from smartslot_common.http.identity import require_role
from smartslot_common.http.problems import ProblemError

routes = web.RouteTableDef()


def _uuid(request: web.Request, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise ProblemError(404, "not_found", "No such resource.") from None


@routes.post("/v1/clinics")
async def create_clinic(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateClinic)
    return json_response(await catalog.create_clinic(request.app[POOL], body.name, body.timezone, body.address), 201)


@routes.post("/v1/services")
async def create_service(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateService)
    return json_response(await catalog.create_service(request.app[POOL], body.model_dump(mode="json")), 201)


@routes.get("/v1/services")
async def list_services(request: web.Request) -> web.Response:
    return json_response({"items": await catalog.list_services(request.app[POOL]), "next_cursor": None})


@routes.post("/v1/providers")
async def create_provider(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateProvider)
    return json_response(await catalog.create_provider(request.app[POOL], body.model_dump()), 201)


@routes.put("/v1/providers/{provider_id}/working-hours")
async def set_working_hours(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.SetWorkingHours)
    rules = [WorkingHoursRule(r.weekday, r.start, r.end, r.service_id) for r in body.rules]
    horizon = request.app[SETTINGS].booking_horizon_days
    result = await schedules.set_working_hours(request.app[POOL], _uuid(request, "provider_id"), rules, horizon)
    return json_response({**result, "rules": [rule.model_dump(mode="json") for rule in body.rules]})


@routes.post("/v1/providers/{provider_id}/slots")
async def create_slot(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateSlot)
    slot = await schedules.create_slot(
        request.app[POOL], _uuid(request, "provider_id"), body.service_id, body.starts_at, body.capacity
    )
    return json_response(slot, 201)


@routes.post("/v1/holds")
async def place_hold(request: web.Request) -> web.Response:
    who = require_role(request, "client")
    body = await read_json(request, schemas.HoldRequest)
    settings = request.app[SETTINGS]
    policy = holds.HoldPolicy(settings.hold_ttl_seconds, settings.max_live_holds)
    command = holds.PlaceHold(body.slot_id, who.user_id)
    appointment = await holds.place_hold(request.app[POOL], request.app[LOCK], policy, command)
    return json_response(schemas.Appointment.model_validate(dict(appointment)), 201)


@routes.get("/v1/appointments/{appointment_id}")
async def get_appointment(request: web.Request) -> web.Response:
    who = require_role(request, "client", "provider", "admin")
    row = await repo.get_appointment(request.app[POOL], _uuid(request, "appointment_id"))
    if row is None or (who.role == "client" and row["client_id"] != who.user_id):
        raise ProblemError(404, "not_found", "No such appointment.")
    return json_response(schemas.Appointment.model_validate(dict(row)))
