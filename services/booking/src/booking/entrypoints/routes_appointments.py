"""Appointment routes: the lifecycle after the hold (confirm, cancel, complete, no-show, reschedule), the
cancellation quote, the calendar invitation, and reading appointments.

Every POST that changes an appointment runs through `commands.execute`, so an Idempotency-Key replays its answer.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from booking.adapters.ics import to_ics
from booking.app_keys import LOCK, SETTINGS
from booking.domain.appointment import Appointment
from booking.entrypoints import schemas
from booking.entrypoints.commands import execute, unit_of_work
from booking.entrypoints.paths import path_uuid
from booking.service_layer import lifecycle, queries
from booking.service_layer import reschedule as rescheduling
from smartslot_common.http import json_response, read_json
from smartslot_common.http.fields import QueryInteger, Timestamp
from smartslot_common.http.identity import require_role
from smartslot_common.http.json import parse_query
from smartslot_common.http.queries import CURSOR_PATTERN, MAX_CURSOR_LENGTH

routes = web.RouteTableDef()
Status = Literal["draft", "locked", "confirmed", "cancelled", "completed", "expired", "no_show"]


def _cursor(raw: str) -> str:
    queries.Cursor.decode(raw)  # refuse a cursor we did not issue with 422, before any query runs
    return raw


class ListQuery(BaseModel):
    """`GET /v1/appointments` query parameters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    status: Status | None = None
    starts_from: Timestamp | None = Field(None, alias="from")
    starts_to: Timestamp | None = Field(None, alias="to")
    limit: QueryInteger = Field(queries.DEFAULT_LIMIT, ge=1, le=queries.MAX_LIMIT)
    cursor: Annotated[str, Field(min_length=1, max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN),
                      AfterValidator(_cursor)] | None = None

    @field_validator("starts_to")
    @classmethod
    def _ordered(cls, starts_to: datetime | None, info: ValidationInfo) -> datetime | None:
        starts_from = info.data.get("starts_from")
        if starts_from and starts_to and starts_from > starts_to:
            raise ValueError("`from` must not be after `to`")
        return starts_to


class CancelRequest(schemas.Strict):
    reason: str | None = Field(None, max_length=lifecycle.MAX_REASON)


class RescheduleRequest(schemas.Strict):
    slot_id: uuid.UUID


def render(appointment: Appointment) -> dict[str, Any]:
    """An appointment as the API's Appointment."""
    return schemas.Appointment.model_validate(appointment.as_row()).model_dump(mode="json")


def _appointment_id(request: web.Request) -> uuid.UUID:
    return path_uuid(request, "appointment_id", "appointment")


async def _cancel_body(request: web.Request) -> CancelRequest:
    """The body is optional: no body at all means no reason."""
    if not await request.read():
        return CancelRequest()
    return await read_json(request, CancelRequest)


@routes.post("/v1/appointments/{appointment_id}/confirm")
async def confirm(request: web.Request) -> web.Response:
    who = require_role(request, "client")
    appointment_id = _appointment_id(request)
    lock = request.app[LOCK]
    return await execute(request, who, 200, render, lambda uow: lifecycle.confirm(uow, lock, appointment_id, who))


@routes.post("/v1/appointments/{appointment_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    who = require_role(request, "client", "provider", "admin")
    appointment_id, body = _appointment_id(request), await _cancel_body(request)
    command = lifecycle.Cancel(appointment_id, who, body.reason, request.app[SETTINGS].waitlist_buffer_seconds)
    lock = request.app[LOCK]
    return await execute(request, who, 200, render, lambda uow: lifecycle.cancel(uow, lock, command))


@routes.post("/v1/appointments/{appointment_id}/complete")
async def complete(request: web.Request) -> web.Response:
    who = require_role(request, "provider", "admin")
    appointment_id = _appointment_id(request)
    return await execute(request, who, 200, render, lambda uow: lifecycle.complete(uow, appointment_id, who))


@routes.post("/v1/appointments/{appointment_id}/no-show")
async def no_show(request: web.Request) -> web.Response:
    who = require_role(request, "provider", "admin")
    appointment_id = _appointment_id(request)
    return await execute(request, who, 200, render, lambda uow: lifecycle.mark_no_show(uow, appointment_id, who))


@routes.post("/v1/appointments/{appointment_id}/reschedule")
async def reschedule(request: web.Request) -> web.Response:
    who = require_role(request, "client")
    appointment_id, body = _appointment_id(request), await read_json(request, RescheduleRequest)
    ttl = request.app[SETTINGS].hold_ttl_seconds
    command = rescheduling.Reschedule(appointment_id, body.slot_id, who, ttl)
    lock = request.app[LOCK]
    return await execute(request, who, 200, render, lambda uow: rescheduling.reschedule(uow, lock, command))


@routes.get("/v1/appointments/{appointment_id}/cancellation-quote")
async def cancellation_quote(request: web.Request) -> web.Response:
    who = require_role(request, "client")
    quote = await lifecycle.quote(unit_of_work(request), _appointment_id(request), who)
    return json_response({"fee_cents": quote.fee_cents, "currency": quote.currency, "policy": quote.policy,
                          "appointment_id": quote.appointment_id, "quoted_at": quote.quoted_at})


@routes.get("/v1/appointments/{appointment_id}/calendar.ics")
async def calendar(request: web.Request) -> web.Response:
    who = require_role(request, "client", "provider")
    entry = await queries.calendar_entry(unit_of_work(request), who, _appointment_id(request))
    return web.Response(
        body=to_ics(entry), content_type="text/calendar", charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="appointment-{entry.appointment_id}.ics"'},
    )


@routes.get("/v1/appointments")
async def list_appointments(request: web.Request) -> web.Response:
    who = require_role(request, "client", "provider", "admin")
    query = parse_query(request, ListQuery)
    after = queries.Cursor.decode(query.cursor) if query.cursor else None
    wanted = queries.AppointmentFilter(query.status, query.starts_from, query.starts_to, query.limit, after)
    page = await queries.list_appointments(unit_of_work(request), who, wanted)
    return json_response({"items": [render(item) for item in page.items], "next_cursor": page.next_cursor})


@routes.get("/v1/appointments/{appointment_id}")
async def get_appointment(request: web.Request) -> web.Response:
    who = require_role(request, "client", "provider", "admin")
    appointment = await queries.get_appointment(unit_of_work(request), who, _appointment_id(request))
    return json_response(render(appointment))
