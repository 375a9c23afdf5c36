"""Booking routes: getting a seat — holds, instant bookings, and the waitlist's internal holds."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from booking.adapters.open_slots import PostgresOpenSlots
from booking.app_keys import LOCK, POOL, REDIS, SETTINGS
from booking.domain.appointment import Appointment
from booking.domain.errors import SlotHeld, SlotUnavailable
from booking.entrypoints import schemas
from booking.entrypoints.commands import execute, unit_of_work
from booking.entrypoints.errors import to_problem
from booking.entrypoints.paths import path_uuid
from booking.service_layer import assignment, holds, seats
from booking.service_layer.suggestions import Suggestions, Target, offering_alternatives
from booking.service_layer.unit_of_work import UnitOfWork
from booking.settings import BookingSettings
from smartslot_common.http import read_json
from smartslot_common.http.identity import Caller, require_role
from smartslot_common.http.json import parse_model
from smartslot_common.http.problems import REFUSAL_SECONDS_HEADER, ProblemError

routes = web.RouteTableDef()
SeatBody = schemas.HoldRequest | schemas.SeatAtTimeRequest
Work = Callable[[UnitOfWork], Awaitable[Appointment]]


def render_appointment(appointment: Appointment) -> dict[str, Any]:
    return schemas.Appointment.model_validate(appointment.as_row()).model_dump(mode="json")


def _policy(settings: BookingSettings) -> holds.HoldPolicy:
    return holds.HoldPolicy(settings.hold_ttl_seconds, settings.max_live_holds, settings.lock_gate_seconds)


def _suggestions(app: web.Application) -> Suggestions:
    settings = app[SETTINGS]
    prefix = settings.redis_key("suggestions") + ":"
    return Suggestions(PostgresOpenSlots(app[POOL]), app[REDIS], prefix, settings.suggestions_cache_seconds)


async def _seat_body(request: web.Request) -> SeatBody:
    """`{slot_id}` or `{service_id, starts_at, provider_id?}`; a body that is neither is told it lacks `slot_id`."""
    data = (await read_json(request, schemas.JsonObject)).root
    at_time = "slot_id" not in data and "service_id" in data
    if at_time:
        return parse_model(schemas.SeatAtTimeRequest, data)
    return parse_model(schemas.HoldRequest, data)


def _work(app: web.Application, who: Caller, body: SeatBody, instant: bool) -> tuple[Work, Target]:
    """What claiming this body means, and what to suggest instead when it loses."""
    lock, policy = app[LOCK], _policy(app[SETTINGS])
    if isinstance(body, schemas.HoldRequest):
        command = (holds.BookNow if instant else holds.PlaceHold)(
            body.slot_id, who.user_id, client_email=who.email, client_name=who.name)
        return (lambda uow: holds.place_hold(uow, lock, policy, command)), Target(body.slot_id)
    request = assignment.ClaimAt(body.service_id, body.starts_at, who.user_id, body.provider_id, instant,
                                 who.email, who.name)
    target = Target(service_id=body.service_id, starts_at=body.starts_at, provider_id=body.provider_id)
    return (lambda uow: assignment.claim_at(uow, lock, policy, request)), target


async def _claim(request: web.Request, instant: bool) -> web.Response:
    who = require_role(request, "client")
    body = await _seat_body(request)
    work, target = _work(request.app, who, body, instant)
    suggestions = _suggestions(request.app)
    try:
        return await execute(request, who, 201, render_appointment, lambda uow: offering_alternatives(
            suggestions, target, work(uow)))
    except (SlotHeld, SlotUnavailable) as refused:
        if isinstance(body, schemas.HoldRequest):
            _say_how_long_refused(request.app, body.slot_id, refused)
        raise


def _say_how_long_refused(app: web.Application, slot_id: uuid.UUID, refused: SlotHeld | SlotUnavailable) -> None:
    """The refusal as a problem telling the gateway how long every claim of the slot gets this same answer."""
    if (seconds := seats.refused_for(app[LOCK], slot_id, refused)) is not None:
        problem = to_problem(refused)
        problem.headers[REFUSAL_SECONDS_HEADER] = f"{seconds:.3f}"
        raise problem from None


@routes.post("/v1/holds")
async def place_hold(request: web.Request) -> web.Response:
    """Hold a seat while the client confirms: `201` locked."""
    return await _claim(request, instant=False)


@routes.post("/v1/appointments")
async def book_now(request: web.Request) -> web.Response:
    """Instant booking, hold and confirm in one transaction: `201` confirmed."""
    return await _claim(request, instant=True)


@routes.post("/internal/v1/holds")
async def place_waitlist_hold(request: web.Request) -> web.Response:
    """The waitlist holds a slot for the client it offers it to (system role only; the gateway never routes it)."""
    who = require_role(request, "system")
    body = await read_json(request, schemas.WaitlistHoldRequest)
    command = holds.PlaceHold(body.slot_id, body.client_id, origin="waitlist", ttl_seconds=body.ttl_seconds,
                              client_email=body.client_email, client_name=body.client_name)
    lock, policy = request.app[LOCK], _policy(request.app[SETTINGS])
    return await execute(request, who, 201, render_appointment, lambda uow: holds.place_hold(
        uow, lock, policy, command))


@routes.post("/internal/v1/slots/{slot_id}/release-reservation")
async def release_reservation(request: web.Request) -> web.Response:
    """The waitlist found nobody to offer the slot to: it returns to the public pool now (system role only)."""
    require_role(request, "system")
    slot_id = path_uuid(request, "slot_id", "slot")
    released = await unit_of_work(request).run(lambda uow: seats.return_to_public(uow, slot_id))
    if not released:
        raise ProblemError(404, "not_found", "No such reserved slot.")
    return web.Response(status=204)
