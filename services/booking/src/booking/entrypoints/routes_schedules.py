"""Schedule routes: working hours, ad-hoc slots, time off, slot deletion (that provider or an admin)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from typing import Any

from aiohttp import web

from booking.app_keys import LOCK, SETTINGS
from booking.domain.schedule import WorkingHoursRule
from booking.entrypoints import schemas
from booking.entrypoints.commands import execute, unit_of_work
from booking.entrypoints.paths import path_uuid
from booking.service_layer import schedules, time_off
from smartslot_common.http import json_response, read_json
from smartslot_common.http.identity import Role, require_role

routes = web.RouteTableDef()
OWNERS: tuple[Role, ...] = ("provider", "admin")  # the gateway checks the role; the service layer checks which provider


def _clock(at: time) -> str:
    """A local wall-clock time as requests write it: HH:MM, with seconds only when a rule was set with them."""
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


def _render_rules(rules: Iterable[WorkingHoursRule]) -> list[dict[str, Any]]:
    return [{"weekday": rule.weekday, "start": _clock(rule.start), "end": _clock(rule.end),
             "service_id": str(rule.service_id)} for rule in rules]


@routes.get("/v1/providers/{provider_id}/working-hours")
async def get_working_hours(request: web.Request) -> web.Response:
    """The weekly rules, in the shape the PUT takes (a provider with none: an empty list)."""
    who = require_role(request, *OWNERS)
    provider_id = path_uuid(request, "provider_id", "provider")
    rules = await schedules.working_hours(unit_of_work(request), who, provider_id)
    return json_response({"rules": _render_rules(rules)})


@routes.put("/v1/providers/{provider_id}/working-hours")
async def set_working_hours(request: web.Request) -> web.Response:
    who = require_role(request, *OWNERS)
    provider_id = path_uuid(request, "provider_id", "provider")
    body = await read_json(request, schemas.SetWorkingHours)
    rules = [WorkingHoursRule(r.weekday, r.start, r.end, r.service_id) for r in body.rules]
    horizon = request.app[SETTINGS].booking_horizon_days
    result = await schedules.set_working_hours(unit_of_work(request), who, provider_id, rules, horizon)
    return json_response(
        {"provider_id": result.provider_id, "rules": _render_rules(result.rules), "slots_created": result.slots_created}
    )


@routes.post("/v1/providers/{provider_id}/slots")
async def create_slot(request: web.Request) -> web.Response:
    who = require_role(request, *OWNERS)
    provider_id = path_uuid(request, "provider_id", "provider")
    body = await read_json(request, schemas.CreateSlot)
    command = schedules.CreateSlot(provider_id, body.service_id, body.starts_at, body.capacity)
    return json_response(await schedules.create_slot(unit_of_work(request), who, command), 201)


def _render_time_off(result: time_off.TimeOffAdded) -> dict[str, Any]:
    return {key: getattr(result, key) for key in (
        "id", "provider_id", "starts_at", "ends_at", "reason", "blocked_slot_ids", "cancelled_appointment_ids",
        "created_at",
    )}


@routes.post("/v1/providers/{provider_id}/time-off")
async def add_time_off(request: web.Request) -> web.Response:
    """Idempotency-Key is honoured here: with `cancel_conflicting` this call cancels appointments."""
    who = require_role(request, *OWNERS)
    provider_id = path_uuid(request, "provider_id", "provider")
    body = await read_json(request, schemas.CreateTimeOff)
    command = time_off.AddTimeOff(provider_id, body.starts_at, body.ends_at, body.reason, body.cancel_conflicting)
    lock = request.app[LOCK]
    return await execute(request, who, 201, _render_time_off, lambda uow: time_off.add_time_off(
        uow, lock, who, command))


@routes.delete("/v1/slots/{slot_id}")
async def delete_slot(request: web.Request) -> web.Response:
    who = require_role(request, *OWNERS)
    await schedules.delete_slot(unit_of_work(request), who, path_uuid(request, "slot_id", "slot"))
    return web.Response(status=204)
